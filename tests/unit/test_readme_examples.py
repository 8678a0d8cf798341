"""The README's examples work as written: every lead they name is one of the sample leads that
`make local` loads."""

from __future__ import annotations

import csv
import re

from tests.conftest import ROOT

EMAIL = re.compile(r"reawake [^\n]*?([A-Za-z0-9._+-]+@[A-Za-z0-9.-]+\.[a-z]+)")


def test_every_lead_in_a_readme_command_is_a_sample_lead() -> None:
    named = set(EMAIL.findall((ROOT / "README.md").read_text(encoding="utf-8")))
    with (ROOT / "config" / "sample" / "leads.csv").open(encoding="utf-8-sig", newline="") as f:
        samples = {row["メールアドレス"].strip().lower() for row in csv.DictReader(f)}
    assert "t.yamada@sakura-seiki.example.jp" in named  # the first example, found
    assert named <= samples, f"not sample leads: {sorted(named - samples)}"
