"""`reawake templates check|upload|preview` against the emulator in-process (moto).

The commands normally find the local stack through stack.json; here `_connect` is replaced so
they use the `aws` fixture's environment. A previewed mail's links are followed through the real
track handler: the click redirects to the page and the unsubscribe link opts the lead out.
"""

from __future__ import annotations

import email
import email.policy
import os
import re
import shutil
from collections.abc import Callable
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlsplit

import boto3
import pytest

from reawake.core.leads import Lead
from reawake.core.store import Store
from reawake_tools.cli import main

ROOT = Path(__file__).resolve().parents[2]
API = "http://127.0.0.1:8787"
SAMPLES = {"useful-content", "case-study", "webinar-invitation", "dm-notice", "repurchase-offer", "win-back"}


def cli(capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, str, str]:
    code = main(list(argv))
    out, err = capsys.readouterr()
    return code, out, err


@pytest.fixture
def stack(aws: Any, monkeypatch: pytest.MonkeyPatch) -> dict[str, Any]:
    from reawake_tools.commands import templates

    info: dict[str, Any] = {"api_url": API}
    monkeypatch.setattr(templates, "_connect", lambda stack_name: info)
    monkeypatch.chdir(ROOT)  # the default folders are relative, as for a user in the repository
    return info


def bucket_keys() -> list[str]:
    listed = boto3.client("s3").list_objects_v2(Bucket=os.environ["CONFIG_BUCKET"])
    return sorted(item["Key"] for item in listed.get("Contents", []))


def broken_copy(tmp_path: Path) -> tuple[Path, Path]:
    templates, config = tmp_path / "templates", tmp_path / "config"
    shutil.copytree(ROOT / "templates", templates)
    shutil.copytree(ROOT / "config", config, ignore=shutil.ignore_patterns("sample"))
    bad = templates / "win-back.html.j2"
    bad.write_text(bad.read_text(encoding="utf-8").replace("{{ owner.name }}", "{{ owner.nmae }}", 1),
                   encoding="utf-8")
    return templates, config


def test_check_lists_the_sample_templates(capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch) \
        -> None:
    monkeypatch.chdir(ROOT)
    code, out, err = cli(capsys, "templates", "check")
    assert code == 0, err
    assert "templates: 6 templates OK" in out
    assert all(name in out for name in SAMPLES)


def test_check_reports_problems_with_file_and_line(capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    templates, config = broken_copy(tmp_path)
    code, _, err = cli(capsys, "templates", "check", "--dir", str(templates), "--config", str(config))
    assert code == 1
    assert re.search(r"win-back\.html\.j2:\d+: unknown variable 'owner\.nmae' \(did you mean 'owner\.name'\?\)", err)
    assert "1 problem found" in err


def test_upload_checks_everything_then_uploads(stack: dict[str, Any], capsys: pytest.CaptureFixture[str]) -> None:
    from reawake.mail.templates import TemplateStore

    code, out, err = cli(capsys, "templates", "upload")
    assert code == 0, err
    expected = sorted([f"templates/{n}.{kind}.j2" for n in SAMPLES for kind in ("html", "txt")]
                      + ["config/mail.yaml", "config/owners.yaml"])
    assert bucket_keys() == expected
    assert "14 files uploaded" in out
    store = TemplateStore(os.environ["CONFIG_BUCKET"])
    assert store.list_names() == sorted(SAMPLES)
    assert store.get("dm-notice").front.reply_to == "{{ owner.email }}"
    assert store.owners().get_owner("takahashi.ryo@example.co.jp") is not None


def test_upload_uploads_nothing_when_one_template_is_wrong(stack: dict[str, Any], tmp_path: Path,
                                                          capsys: pytest.CaptureFixture[str]) -> None:
    templates, config = broken_copy(tmp_path)
    code, _, err = cli(capsys, "templates", "upload", "--dir", str(templates), "--config", str(config))
    assert code == 1
    assert "owner.nmae" in err and "nothing uploaded" in err
    assert bucket_keys() == []


def test_preview_for_a_lead_writes_html_and_eml_whose_links_work(
    stack: dict[str, Any], api: Callable[..., tuple[int, dict[str, str], bytes]], tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
) -> None:
    email_address = "t.yamada@sakura-seiki.example.jp"
    lead_id = Store(os.environ["TABLE_NAME"]).claim_lead_id(email_address)
    lead = Lead(lead_id=lead_id, email=email_address, registered_at=1_767_657_600_000,
                name="山田 太郎", company="株式会社さくら精機", owner="suzuki.misaki@example.co.jp")
    Store(os.environ["TABLE_NAME"]).save_lead(lead, None)

    code, out, err = cli(capsys, "templates", "preview", "case-study", "--lead", "T.Yamada@sakura-seiki.example.jp",
                         "--out", str(tmp_path))
    assert code == 0, err
    html_path, eml_path = tmp_path / "case-study.html", tmp_path / "case-study.eml"
    assert str(html_path) in out and str(eml_path) in out
    message = email.message_from_bytes(eml_path.read_bytes(), policy=email.policy.default)
    assert message["Subject"] == "【導入事例】受発注の転記作業を月40時間削減 ― 株式会社山田製作所さま"
    assert message["To"].addresses[0].display_name == "山田 太郎 様"
    text_part, html_part = (p.get_content() for p in message.iter_parts())
    assert "鈴木 美咲" in text_part and "鈴木 美咲" in html_part  # the lead's owner
    assert html_path.read_text(encoding="utf-8") == html_part.replace("\r\n", "\n")

    click = re.search(rf"{re.escape(API)}(/v1/click/[^\s\"]+)", html_part)
    assert click
    status, headers, _ = api("GET", click.group(1))
    assert status == 302
    location = urlsplit(headers["location"])
    assert f"{location.scheme}://{location.netloc}{location.path}" == "https://www.example.co.jp/"
    assert "rw_id" in parse_qs(location.query)

    unsubscribe = str(message["List-Unsubscribe"]).split(",")[0].strip()[1:-1]
    status, _, body = api("POST", unsubscribe.removeprefix(API), b"List-Unsubscribe=One-Click",
                          {"content-type": "application/x-www-form-urlencoded"})
    assert status == 200, body
    stored = Store(os.environ["TABLE_NAME"]).get_lead(lead.lead_id)
    assert stored is not None and stored.suppressed == "unsubscribe"


def test_preview_of_an_unknown_lead(stack: dict[str, Any], capsys: pytest.CaptureFixture[str]) -> None:
    code, _, err = cli(capsys, "templates", "preview", "case-study", "--lead", "nobody@example.com")
    assert code == 2 and "no lead with the address nobody@example.com" in err


def test_preview_with_a_sample_lead_needs_no_stack(tmp_path: Path, capsys: pytest.CaptureFixture[str],
                                                   monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(ROOT)
    code, out, err = cli(capsys, "templates", "preview", "webinar-invitation", "--sample", "--out", str(tmp_path))
    assert code == 0, err
    assert str(tmp_path / "webinar-invitation.eml") in out
    message = email.message_from_bytes((tmp_path / "webinar-invitation.eml").read_bytes(),
                                       policy=email.policy.default)
    assert message["Subject"].startswith("【参加無料・オンライン】")
    assert message["List-Unsubscribe-Post"] == "List-Unsubscribe=One-Click"
    assert "山田 太郎 様" in (tmp_path / "webinar-invitation.html").read_text(encoding="utf-8")
