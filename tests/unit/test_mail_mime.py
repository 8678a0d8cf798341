"""A sample template rendered for a lead and built into raw MIME, then read back with Python's
email package as a mail client would: headers, parts, Japanese, tracked links, footer, pixel."""

from __future__ import annotations

import email
import email.policy
import re
from email.message import EmailMessage
from html.parser import HTMLParser
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest

from reawake.core.leads import Lead
from reawake.core.tokens import Purpose, verify
from reawake.mail.config import load_mail_config_file, load_owners_file
from reawake.mail.context import build_context
from reawake.mail.links import LinkPolicy, LinkSigner
from reawake.mail.mime import build_message
from reawake.mail.render import RenderedEmail, render_email
from reawake.mail.templates import DirectoryTemplateStore

ROOT = Path(__file__).resolve().parents[2]
TOKYO = ZoneInfo("Asia/Tokyo")
KEY = b"unit-test-signing-key-0123456789"
API = "https://abc123.execute-api.ap-northeast-1.amazonaws.com"
SITE = "https://www.example.co.jp"
NOW_MS = 1_795_402_800_000  # 2026-11-23 12:00 JST
NOW_S = NOW_MS // 1000
LEAD = Lead(
    lead_id="lead0000000000000001",
    email="t.yamada@sakura-seiki.example.jp",
    registered_at=1_767_657_600_000,
    name="山田 太郎",
    company="株式会社さくら精機",
    owner="sato.kenji@example.co.jp",
    attrs={"業種": "製造業"},
)
SAMPLES = ["useful-content", "case-study", "webinar-invitation", "dm-notice", "repurchase-offer", "win-back"]


def store() -> DirectoryTemplateStore:
    return DirectoryTemplateStore(ROOT / "templates", ROOT / "config")


def render(name: str, lead: Lead = LEAD) -> RenderedEmail:
    mail = load_mail_config_file(ROOT / "config" / "mail.yaml")
    context = build_context(lead, load_owners_file(ROOT / "config" / "owners.yaml"), mail.sender, "nurture",
                            "step-1", NOW_MS, TOKYO)
    signer = LinkSigner(API, KEY, lead.lead_id, f"nurture:{name}:{lead.lead_id}", NOW_MS, LinkPolicy((SITE,)))
    return render_email(name, context, store(), signer, mail)


def parse(raw: bytes) -> EmailMessage:
    message = email.message_from_bytes(raw, policy=email.policy.default)
    assert isinstance(message, EmailMessage)
    return message


class Hrefs(HTMLParser):
    def __init__(self) -> None:
        super().__init__()
        self.hrefs: list[str] = []
        self.images: list[str] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        values = dict(attrs)
        if tag == "a" and values.get("href"):
            self.hrefs.append(values["href"] or "")
        if tag == "img":
            self.images.append(values.get("src") or "")


def click_target(url: str) -> str:
    assert url.startswith(f"{API}/v1/click/"), url
    token = verify(url.rsplit("/", 1)[1], KEY, Purpose.CLICK, NOW_S)
    assert token.lead_id == LEAD.lead_id
    assert token.message_id == "nurture:case-study:" + LEAD.lead_id
    assert token.target
    return token.target


@pytest.fixture(scope="module")
def case_study() -> tuple[RenderedEmail, EmailMessage, bytes]:
    rendered = render("case-study")
    raw = build_message(rendered, "山田 太郎 様 <t.yamada@sakura-seiki.example.jp>", now_ms=NOW_MS)
    return rendered, parse(raw), raw


def test_headers_read_back_with_japanese_decoded(case_study: tuple[RenderedEmail, EmailMessage, bytes]) -> None:
    rendered, message, raw = case_study
    assert message["Subject"] == "【導入事例】受発注の転記作業を月40時間削減 ― 株式会社山田製作所さま"
    sender = message["From"].addresses[0]
    assert (sender.display_name, sender.addr_spec) == ("サンプル株式会社", "info@example.co.jp")
    to = message["To"].addresses[0]
    assert (to.display_name, to.addr_spec) == ("山田 太郎 様", "t.yamada@sakura-seiki.example.jp")
    assert message["Date"].datetime.timestamp() == NOW_S
    assert re.fullmatch(r"<[0-9a-f]{32}@example\.co\.jp>", message["Message-ID"])
    assert message["X-Reawake-Message"] == rendered.message_id
    assert message["MIME-Version"] == "1.0"
    raw.decode("ascii")  # 7-bit clean: Japanese only inside encoded-words and base64
    assert all(len(line) <= 998 for line in raw.split(b"\r\n"))


def test_one_click_unsubscribe_headers(case_study: tuple[RenderedEmail, EmailMessage, bytes]) -> None:
    rendered, message, _ = case_study
    entries = [e.strip() for e in str(message["List-Unsubscribe"]).split(",")]
    assert entries[0] == f"<{rendered.unsubscribe_url}>"
    assert entries[1] == "<mailto:unsubscribe@example.co.jp?subject=unsubscribe>"
    assert message["List-Unsubscribe-Post"] == "List-Unsubscribe=One-Click"
    token = verify(rendered.unsubscribe_url.rsplit("/", 1)[1], KEY, Purpose.UNSUBSCRIBE, NOW_S)
    assert token.lead_id == LEAD.lead_id
    assert token.expires_at >= NOW_S + 364 * 86_400  # a year: opting out keeps working


def test_multipart_alternative_text_first_then_html(case_study: tuple[RenderedEmail, EmailMessage, bytes]) -> None:
    _, message, _ = case_study
    assert message.get_content_type() == "multipart/alternative"
    parts = list(message.iter_parts())
    assert [p.get_content_type() for p in parts] == ["text/plain", "text/html"]
    assert all(p.get_content_charset() == "utf-8" for p in parts)
    assert "山田 太郎 様" in parts[0].get_content()
    assert "株式会社さくら精機" in parts[1].get_content()
    body = message.get_body(preferencelist=("html",))
    assert body is not None and body.get_content_type() == "text/html"


def test_every_link_in_both_parts_is_a_signed_click_url(case_study: tuple[RenderedEmail, EmailMessage, bytes]) \
        -> None:
    rendered, message, _ = case_study
    text_part, html_part = (p.get_content() for p in message.iter_parts())
    footer_links = {rendered.unsubscribe_url, "mailto:info@example.co.jp", "https://www.example.co.jp/contact/"}
    parser = Hrefs()
    parser.feed(html_part)
    html_targets = [click_target(h) for h in parser.hrefs if h not in footer_links]
    assert html_targets == [
        f"{SITE}/", f"{SITE}/app/cases", f"{SITE}/product/",
    ]
    urls = re.findall(r"https?://\S+", text_part)
    text_targets = [click_target(u) for u in urls if u not in footer_links]
    assert text_targets == [f"{SITE}/app/cases", f"{SITE}/product/"]
    assert not [u for u in re.findall(r"https?://[^\s\"'<>]+", html_part + text_part)
                if u.startswith(SITE) and u not in footer_links]  # no untracked site link left


def test_open_pixel_before_body_end(case_study: tuple[RenderedEmail, EmailMessage, bytes]) -> None:
    _, message, _ = case_study
    html_part = list(message.iter_parts())[1].get_content()
    parser = Hrefs()
    parser.feed(html_part)
    pixel = [src for src in parser.images if src.startswith(f"{API}/v1/open/")]
    assert len(pixel) == 1 and pixel[0].endswith(".gif")
    token = verify(pixel[0].rsplit("/", 1)[1][: -len(".gif")], KEY, Purpose.OPEN, NOW_S)
    assert token.lead_id == LEAD.lead_id
    assert html_part.index(pixel[0]) < html_part.lower().rindex("</body>")
    assert 'width="1" height="1" alt=""' in html_part


def test_legal_footer_in_both_parts(case_study: tuple[RenderedEmail, EmailMessage, bytes]) -> None:
    rendered, message, _ = case_study
    for part in message.iter_parts():
        content = part.get_content()
        for needed in ("送信者：サンプル株式会社", "〒100-0005 東京都千代田区丸の内1-2-3", "info@example.co.jp",
                       "配信停止", rendered.unsubscribe_url):
            assert needed in content, (part.get_content_type(), needed)


def test_preheader_hidden_at_the_top(case_study: tuple[RenderedEmail, EmailMessage, bytes]) -> None:
    rendered, message, _ = case_study
    html_part = list(message.iter_parts())[1].get_content()
    body_start = html_part.index("<body")
    preheader_at = html_part.index(rendered.preheader)
    assert body_start < preheader_at < html_part.index("株式会社さくら精機")
    assert "display:none" in html_part[body_start:preheader_at]


@pytest.mark.parametrize("name", SAMPLES)
def test_every_sample_template_renders_to_a_readable_message(name: str) -> None:
    rendered = render(name)
    message = parse(build_message(rendered, LEAD.email, now_ms=NOW_MS))
    assert message["Subject"] == rendered.subject and "{{" not in rendered.subject
    text_part, html_part = (p.get_content() for p in message.iter_parts())
    for content in (text_part, html_part):
        assert "{{" not in content and "{%" not in content
        assert "山田" in content and "佐藤 健二" in content  # the lead and the owner
        assert "送信者：サンプル株式会社" in content
    assert rendered.links and not rendered.untracked_links


def test_dm_notice_comes_from_the_owner_and_replies_go_to_them() -> None:
    rendered = render("dm-notice")
    message = parse(build_message(rendered, LEAD.email, now_ms=NOW_MS))
    sender = message["From"].addresses[0]
    assert sender.display_name == "佐藤 健二（サンプル株式会社）"
    assert sender.addr_spec == "info@example.co.jp"  # the verified sending address
    assert message["Reply-To"].addresses[0].addr_spec == "sato.kenji@example.co.jp"
    assert message["Subject"].startswith("株式会社さくら精機 山田 太郎様")


def test_a_lead_without_owner_name_or_company_gets_the_team() -> None:
    bare = Lead(lead_id="lead0000000000000002", email="someone@example.org", registered_at=NOW_MS)
    rendered = render("dm-notice", bare)
    assert "ご担当者 様" in rendered.text
    assert "サンプル株式会社 営業部" in rendered.text  # sender.name signs
    assert rendered.reply_to == "info@example.co.jp"


def test_long_japanese_subject_is_folded_into_short_encoded_words() -> None:
    rendered = render("webinar-invitation")
    raw = build_message(rendered, LEAD.email, now_ms=NOW_MS)
    header = raw.split(b"\r\n\r\n", 1)[0].decode("ascii")
    subject_lines = re.search(r"^Subject: .*?(?=\r\n\S)", header, re.S | re.M)
    assert subject_lines
    words = re.findall(r"=\?UTF-8\?B\?[^?]+\?=", subject_lines.group(0))
    assert len(words) > 1 and all(len(w) <= 75 for w in words)
    assert parse(raw)["Subject"] == rendered.subject


def test_extra_headers_are_added_and_line_breaks_refused() -> None:
    rendered = render("case-study")
    message = parse(build_message(rendered, LEAD.email, headers={"X-SES-CONFIGURATION-SET": "reawake"},
                                  now_ms=NOW_MS))
    assert message["X-SES-CONFIGURATION-SET"] == "reawake"
    with pytest.raises(ValueError, match="line break"):
        build_message(rendered, LEAD.email, headers={"X-Note": "a\r\nBcc: victim@example.com"})
