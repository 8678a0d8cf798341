# Two commands do all the set-up on a fresh machine: `make local` and `make test`.
VENV ?= .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.installed-stamp
export AWS_DEFAULT_REGION ?= ap-northeast-1
export SAM_CLI_TELEMETRY = 0

.PHONY: venv local demo test lint typecheck templates unit component stack browser bench chromium clean

$(STAMP): pyproject.toml
	python3 -m venv $(VENV)
	$(VENV)/bin/pip install -q --upgrade pip
	$(VENV)/bin/pip install -q -e '.[dev]'
	touch $(STAMP)

venv: $(STAMP)

## make local: start the whole system on the embedded AWS emulator with sample data
local: venv
	$(VENV)/bin/reawake local

## make demo: the whole story on the running local stack (or on one of its own)
demo: venv
	$(VENV)/bin/reawake demo

## make test: lint, type checks, template checks and every test
test: venv chromium lint typecheck templates
	$(VENV)/bin/pytest

lint: venv
	$(VENV)/bin/ruff check .

typecheck: venv
	$(VENV)/bin/mypy

## cfn-lint with its informational rules, and checkov (in a venv of its own: it pins its own
## dependencies) with the justified skips in .checkov.yaml
CHECKOV := $(VENV)/checkov/bin/checkov
$(CHECKOV):
	python3 -m venv $(VENV)/checkov
	$(VENV)/checkov/bin/pip install -q 'checkov==3.3.30'

templates: venv $(CHECKOV)
	$(VENV)/bin/cfn-lint template.yaml --include-checks I
	$(CHECKOV) --config-file .checkov.yaml -f template.yaml

unit: venv
	$(VENV)/bin/pytest tests/unit
component: venv
	$(VENV)/bin/pytest tests/component
stack: venv
	$(VENV)/bin/pytest tests/stack
browser: venv chromium
	$(VENV)/bin/pytest tests/browser

## Debian's Chromium for the browser tests (installed once, when missing)
chromium:
	@command -v chromium >/dev/null 2>&1 || (apt-get update -q && DEBIAN_FRONTEND=noninteractive apt-get install -y -q chromium fonts-noto-cjk)

## make bench: the benchmarks; each prints its figures and a ratio against a same-run baseline
bench: venv
	$(PY) -m bench

clean:
	rm -rf $(VENV) .mypy_cache .pytest_cache .ruff_cache .aws-sam
