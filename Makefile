# Two commands do all the set-up on a fresh machine: `make local` and `make test`.
VENV ?= .venv
PY := $(VENV)/bin/python
# The install is redone only when pyproject.toml's content changes (not its date: a checkout or a
# merge that leaves it as it was installs nothing).
STAMP := $(VENV)/.installed-$(shell sha256sum pyproject.toml | cut -c1-16)
# The whole suite on every core (an idle worker takes queued tests from a busy one: the slow stack
# tests do not hold up the end); `make test PYTEST_WORKERS=0` runs it in one process.
PYTEST_WORKERS ?= auto
PYTEST := $(VENV)/bin/pytest -n $(PYTEST_WORKERS) --dist worksteal
export AWS_DEFAULT_REGION ?= ap-northeast-1
export SAM_CLI_TELEMETRY = 0

.PHONY: venv local demo test lint typecheck templates unit component stack browser bench chromium clean

$(STAMP):
	test -x $(PY) || (python3 -m venv $(VENV) && $(VENV)/bin/pip install -q --upgrade pip)
	$(VENV)/bin/pip install -q -e '.[dev]'
	rm -f $(VENV)/.installed-*
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
	$(PYTEST)

lint: venv
	$(VENV)/bin/ruff check .

typecheck: venv
	$(VENV)/bin/mypy

## cfn-lint with its informational rules, and checkov (in a venv of its own: it pins its own
## dependencies) with the justified skips in .checkov.yaml
CHECKOV_VERSION := 3.3.30
CHECKOV := $(VENV)/checkov/bin/checkov
CHECKOV_STAMP := $(VENV)/checkov/.installed-$(CHECKOV_VERSION)
$(CHECKOV_STAMP):
	test -x $(VENV)/checkov/bin/python || python3 -m venv $(VENV)/checkov
	$(VENV)/checkov/bin/pip install -q 'checkov==$(CHECKOV_VERSION)'
	rm -f $(VENV)/checkov/.installed-*
	touch $(CHECKOV_STAMP)

templates: venv $(CHECKOV_STAMP)
	$(VENV)/bin/cfn-lint template.yaml --include-checks I
	$(CHECKOV) --config-file .checkov.yaml -f template.yaml

unit: venv
	$(PYTEST) tests/unit
component: venv
	$(PYTEST) tests/component
stack: venv
	$(PYTEST) tests/stack
browser: venv chromium
	$(PYTEST) tests/browser

## Debian's Chromium for the browser tests (installed once, when missing)
chromium:
	@command -v chromium >/dev/null 2>&1 || (apt-get update -q && DEBIAN_FRONTEND=noninteractive apt-get install -y -q chromium fonts-noto-cjk)

## make bench: the benchmarks; each prints its figures and a ratio against a same-run baseline
bench: venv
	$(PY) -m bench

clean:
	rm -rf $(VENV) .mypy_cache .pytest_cache .ruff_cache .aws-sam
