"""Templates as a marketer writes them: front matter, the sandbox, autoescaping, the variable
contract, the checks that run before upload, and the S3 store's ETag cache."""

from __future__ import annotations

from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import boto3
import pytest
from jinja2.exceptions import SecurityError

from reawake.core.leads import Lead
from reawake.mail.config import load_mail_config_file
from reawake.mail.context import SAMPLE_LEAD, build_context
from reawake.mail.links import LinkPolicy, LinkSigner
from reawake.mail.render import render_email
from reawake.mail.templates import (
    DirectoryTemplateStore,
    TemplateNotFound,
    TemplateStore,
    check_template,
    template_variables,
    unknown_variable,
)

ROOT = Path(__file__).resolve().parents[2]
SITE = "https://www.example.co.jp"
TOKYO = ZoneInfo("Asia/Tokyo")
NOW_MS = 1_795_402_800_000
POLICY = LinkPolicy((SITE,), frozenset({"zoom.us"}))
BUCKET = "reawake-config-test"
TEXT = "{{ lead.name }} 様\nhttps://www.example.co.jp/\n"


def write(folder: Path, name: str, html: str, text: str | None = TEXT, front: str = "subject: テスト") -> None:
    (folder / "templates").mkdir(exist_ok=True)
    (folder / "config").mkdir(exist_ok=True)
    config = ROOT / "config" / "mail.yaml"
    (folder / "config" / "mail.yaml").write_text(config.read_text(encoding="utf-8"), encoding="utf-8")
    (folder / "templates" / f"{name}.html.j2").write_text(f"---\n{front}\n---\n{html}", encoding="utf-8")
    if text is not None:
        (folder / "templates" / f"{name}.txt.j2").write_text(text, encoding="utf-8")


def problems_of(tmp_path: Path, html: str, **kwargs: Any) -> list[str]:
    write(tmp_path, "t", html, **kwargs)
    return check_template("t", DirectoryTemplateStore(tmp_path / "templates", tmp_path / "config"), policy=POLICY)


def render(tmp_path: Path, name: str = "t", lead: Lead = SAMPLE_LEAD) -> Any:
    store = DirectoryTemplateStore(tmp_path / "templates", tmp_path / "config")
    mail = load_mail_config_file(tmp_path / "config" / "mail.yaml")
    context = build_context(lead, store.owners(), mail.sender, "s", "1", NOW_MS, TOKYO)
    signer = LinkSigner("https://api.example.com", b"k" * 32, lead.lead_id, "s:1:x", NOW_MS, POLICY)
    return render_email(name, context, store, signer, mail)


# --- the sample templates -------------------------------------------------------------------------


def test_the_sample_templates_pass_the_check() -> None:
    store = DirectoryTemplateStore(ROOT / "templates", ROOT / "config")
    names = store.list_names()
    assert set(names) >= {"useful-content", "case-study", "webinar-invitation", "dm-notice", "repurchase-offer",
                          "win-back"}
    for name in names:
        assert check_template(name, store, policy=POLICY) == [], name


def test_template_variables_lists_paths_over_every_part() -> None:
    store = DirectoryTemplateStore(ROOT / "templates", ROOT / "config")
    found = template_variables("dm-notice", store)
    assert {"lead.name", "lead.company", "lead.attrs.業種", "owner.name", "owner.email", "sender.company"} <= found
    assert all(unknown_variable(path) is None for path in found)


# --- the sandbox ------------------------------------------------------------------------------------


@pytest.mark.parametrize("html", [
    "{{ ''.__class__.__mro__[1].__subclasses__() }}",
    "{{ lead.__init__.__globals__ }}",
    "{{ lead['__class__'] }}",
    "{{ lead | attr('__class__') }}",
])
def test_reaching_python_internals_is_refused_by_the_check(tmp_path: Path, html: str) -> None:
    problems = problems_of(tmp_path, f"<p>{html}</p>")
    assert any("refused by the sandbox" in p for p in problems), problems
    assert any(":4:" in p for p in problems)  # the line in the .html.j2 (after 3 lines of front matter)


@pytest.mark.parametrize("html", [
    "{{ ''.__class__.__mro__ }}",
    "{{ lead.__init__.__globals__ }}",
    "{% set n = '__cla' ~ 'ss__' %}{{ lead | attr(n) }}",  # computed: only the sandbox at run time sees it
])
def test_rendering_such_a_template_raises_security_error(tmp_path: Path, html: str) -> None:
    write(tmp_path, "t", f"<p>{html}</p>")
    with pytest.raises(SecurityError):
        render(tmp_path)


def test_a_computed_attribute_is_caught_by_the_check_when_it_renders(tmp_path: Path) -> None:
    problems = problems_of(tmp_path, "{% set n = '__cla' ~ 'ss__' %}<p>{{ lead | attr(n) }}</p>")
    assert problems and "refused by the sandbox" in problems[0]


def test_templates_cannot_mutate_the_context(tmp_path: Path) -> None:
    write(tmp_path, "t", "{{ lead.attrs.update({'x': 1}) }}")
    with pytest.raises(SecurityError):
        render(tmp_path)


# --- escaping, variables, syntax ------------------------------------------------------------------


def test_lead_data_is_escaped_in_html_and_left_alone_in_text(tmp_path: Path) -> None:
    write(tmp_path, "t", "<html><body><p>{{ lead.name }} 様</p></body></html>")
    lead = Lead(lead_id="x" * 20, email="a@example.com", registered_at=NOW_MS, name="<script>alert(1)</script>")
    rendered = render(tmp_path, lead=lead)
    assert "&lt;script&gt;alert(1)&lt;/script&gt; 様" in rendered.html
    assert "<script>" not in rendered.html
    assert "<script>alert(1)</script> 様" in rendered.text


def test_subject_cannot_inject_headers(tmp_path: Path) -> None:
    write(tmp_path, "t", "<p>x</p>", front='subject: "{{ lead.name }}"')
    lead = Lead(lead_id="x" * 20, email="a@example.com", registered_at=NOW_MS, name="山田\r\nBcc: victim@example.com")
    assert render(tmp_path, lead=lead).subject == "山田 Bcc: victim@example.com"


@pytest.mark.parametrize(("html", "expected"), [
    ("<p>{{ coupon_code }}</p>", "4: unknown variable 'coupon_code'"),
    ("<p>\n{{ lead.nmae }}</p>", "5: unknown variable 'lead.nmae' (did you mean 'lead.name'?)"),
    ("<p>{{ owner.mobile }}</p>", "unknown variable 'owner.mobile'"),
    ("<p>{{ lead.name.nope }}</p>", "lead.name is a str and has no 'nope'"),
    ("<p>{% for x in lead.attrs %}{{ x }}{% endfor %}{{ leed.name }}</p>", "unknown variable 'leed'"),
])
def test_undefined_variables_are_reported_before_upload(tmp_path: Path, html: str, expected: str) -> None:
    problems = problems_of(tmp_path, html)
    assert any(expected in p for p in problems), problems


def test_variables_in_front_matter_are_checked_too(tmp_path: Path) -> None:
    problems = problems_of(tmp_path, "<p>x</p>", front='subject: "{{ lead.compny }} のご案内"')
    assert any(":2: subject: " in p and "lead.compny" in p and "lead.company" in p for p in problems), problems


def test_allowed_variables_pass(tmp_path: Path) -> None:
    html = ("<p>{{ lead.attrs.好きな列 }} {{ lead.name.strip() }} {{ today | ja_date(true) }} {{ today.year }}"
            " {{ lead.registered_at | ja_date }} {{ sequence.name }} {{ sender.contact_url }} {{ range(3) | list }}"
            "{% set local = 1 %}{{ local }}</p>")
    assert problems_of(tmp_path, html) == []


def test_a_syntax_error_is_reported_with_its_line(tmp_path: Path) -> None:
    problems = problems_of(tmp_path, "<p>ok</p>\n<p>{% if lead.name %}</p>\n")
    assert len(problems) == 1
    assert "t.html.j2:" in problems[0] and "syntax error" in problems[0]
    assert ":6:" in problems[0] or ":5:" in problems[0]


def test_missing_text_part(tmp_path: Path) -> None:
    problems = problems_of(tmp_path, "<p>x</p>", text=None)
    assert len(problems) == 1 and "t.txt.j2: missing" in problems[0]


@pytest.mark.parametrize(("front", "expected"), [
    ("preheader: x", "'subject' is required"),
    ("subject: a\nsubjet: b", "unknown key 'subjet'"),
    ("subject: [unclosed", "YAML syntax error"),
])
def test_front_matter_problems(tmp_path: Path, front: str, expected: str) -> None:
    problems = problems_of(tmp_path, "<p>x</p>", front=front)
    assert any(expected in p for p in problems), problems


def test_include_is_not_supported(tmp_path: Path) -> None:
    assert any("not supported" in p for p in problems_of(tmp_path, "{% include 'other.html' %}"))


# --- links ------------------------------------------------------------------------------------------


def test_links_the_click_endpoint_would_not_follow_are_refused(tmp_path: Path) -> None:
    html = ('<a href="https://evil.example.net/x">a</a> <a href="/relative">b</a> <a href="javascript:alert(1)">c</a>'
            ' <a href="https://us02web.zoom.us/j/123">zoom (allowed)</a> <a href="mailto:x@example.co.jp">m</a>'
            ' <a href="{{ sender.contact_url }}">contact</a>')
    problems = problems_of(tmp_path, html)
    assert len(problems) == 3, problems
    assert "evil.example.net is not one of the sites" in problems[0]
    assert "untracked_link_hosts" in problems[0]
    assert "relative" in problems[1]
    assert "javascript: links are not allowed" in problems[2]


def test_off_site_url_in_the_text_part_is_refused(tmp_path: Path) -> None:
    problems = problems_of(tmp_path, "<p>x</p>", text="詳しくは https://other.example.org/page をご覧ください")
    assert len(problems) == 1 and "t.txt.j2" in problems[0] and "other.example.org" in problems[0]


# --- the S3 store -----------------------------------------------------------------------------------


class CountingS3:
    """The real (moto) client, counting get_object calls and full downloads."""

    def __init__(self) -> None:
        self.inner = boto3.client("s3")
        self.calls = 0
        self.downloads = 0
        self.exceptions = self.inner.exceptions

    def get_object(self, **kwargs: Any) -> Any:
        self.calls += 1
        response = self.inner.get_object(**kwargs)
        self.downloads += 1
        return response

    def __getattr__(self, name: str) -> Any:
        return getattr(self.inner, name)


@pytest.fixture
def bucket(monkeypatch: pytest.MonkeyPatch) -> Any:
    from moto import mock_aws

    monkeypatch.delenv("AWS_ENDPOINT_URL", raising=False)
    with mock_aws():
        s3 = boto3.client("s3")
        s3.create_bucket(Bucket=BUCKET, CreateBucketConfiguration={"LocationConstraint": "ap-northeast-1"})
        for path in (ROOT / "templates").glob("case-study.*"):
            s3.put_object(Bucket=BUCKET, Key=f"templates/{path.name}", Body=path.read_bytes())
        s3.put_object(Bucket=BUCKET, Key="config/mail.yaml", Body=(ROOT / "config" / "mail.yaml").read_bytes())
        yield s3


def test_s3_store_does_not_download_or_recompile_an_unchanged_template(bucket: Any) -> None:
    client = CountingS3()
    store = TemplateStore(BUCKET, client=client, refresh_seconds=300)
    first = store.get("case-study")
    assert (client.calls, client.downloads) == (2, 2)  # .html.j2 and .txt.j2
    assert store.get("case-study") is first
    assert (client.calls, client.downloads) == (2, 2)  # within the refresh interval: no call at all

    store.refresh_seconds = 0  # now every get asks S3 with If-None-Match
    assert store.get("case-study") is first
    assert client.calls == 4 and client.downloads == 2  # 304 Not Modified: nothing downloaded, not recompiled

    html = (ROOT / "templates" / "case-study.html.j2").read_text(encoding="utf-8")
    bucket.put_object(Bucket=BUCKET, Key="templates/case-study.html.j2",
                      Body=html.replace("【導入事例】", "【新・導入事例】").encode())
    changed = store.get("case-study")
    assert changed is not first and changed.front.subject.startswith("【新・導入事例】")
    assert client.downloads == 3  # only the changed file


def test_s3_store_names_mail_config_and_missing_templates(bucket: Any) -> None:
    store = TemplateStore(BUCKET)
    assert store.list_names() == ["case-study"]
    mail = store.mail_config()
    assert mail is not None and mail.sender.company == "サンプル株式会社"
    with pytest.raises(TemplateNotFound, match="no template 'nope'"):
        store.get("nope")
    with pytest.raises(TemplateNotFound, match="not a template name"):
        store.get("../config/mail")


def test_directory_store_sees_edits(tmp_path: Path) -> None:
    write(tmp_path, "t", "<p>one</p>")
    store = DirectoryTemplateStore(tmp_path / "templates", tmp_path / "config")
    assert "one" in store.get("t").html.render({})
    write(tmp_path, "t", "<p>two, longer</p>")  # another size: seen even when the mtime does not move
    assert "two" in store.get("t").html.render({})
