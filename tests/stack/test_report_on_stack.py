"""The report on the local stack: the live page at /report and `reawake report` writing HTML + CSV."""

from __future__ import annotations

import csv
import io
import os
import subprocess
import urllib.request
from pathlib import Path

from reawake_tools.local.connect import STACK_FILE_ENV
from tests.stack.harness import ROOT, RunningStack, reawake_command


def reawake(stack: RunningStack, *args: str) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, STACK_FILE_ENV: str(stack.stack_file)}
    return subprocess.run([*reawake_command(), *args], capture_output=True, text=True, env=env, cwd=ROOT,
                          timeout=180, check=False)


def test_the_stack_serves_the_live_report(local_stack: RunningStack) -> None:
    with urllib.request.urlopen(f"{local_stack.api_url}/report") as response:
        assert response.status == 200
        assert response.headers["content-type"].startswith("text/html")
        page = response.read().decode("utf-8")
    assert "休眠リード掘り起こしレポート" in page
    for definition in ("登録90日以上・直近30日サイト訪問なし", "直近3か月ウェビナー視聴・申込なし"):
        assert definition in page
    assert "<svg" in page and "<script" not in page


def test_reawake_report_writes_html_and_excel_csv(local_stack: RunningStack, tmp_path: Path) -> None:
    out = tmp_path / "report"
    done = reawake(local_stack, "report", "--out", str(out), "--encoding", "cp932", "--by", "業種")
    assert done.returncode == 0, done.stderr
    assert (out / "index.html").read_text(encoding="utf-8").count("<svg") >= 5
    rows = list(csv.reader(io.StringIO((out / "crosstab.csv").read_bytes().decode("cp932"))))
    assert rows[0][4] == "業種"
    assert next(iter(csv.reader(io.StringIO((out / "funnel.csv").read_bytes().decode("cp932")))))[0] == "シーケンス"
    beyond = reawake(local_stack, "report", "--by", "業種", "--cell", str(len(rows) + 5), "--yaml")
    assert beyond.returncode == 2 and "--cell" in beyond.stderr  # (cells as YAML: tests/unit/test_report_output.py)
