"""Link rewriting: which links are tracked, kept or refused, and that HTML attributes and URLs in
running Japanese text come out intact; the context a template sees."""

from __future__ import annotations

import re
from zoneinfo import ZoneInfo

import pytest

from reawake.core.leads import Lead
from reawake.core.tokens import Purpose, verify
from reawake.core.yamlfile import ConfigError
from reawake.mail.config import Owner, OwnerDirectory, load_mail_config
from reawake.mail.context import KNOWN_VARIABLES, build_context
from reawake.mail.links import KEEP, REFUSE, TRACK, LinkPolicy, LinkReport, LinkSigner, rewrite_html, rewrite_text

SITE = "https://www.example.co.jp"
KEY = b"k" * 32
NOW_MS = 1_795_402_800_000
POLICY = LinkPolicy((SITE,), frozenset({"zoom.us"}))


def signer(policy: LinkPolicy = POLICY) -> LinkSigner:
    return LinkSigner("https://api.example.com/", KEY, "lead1", "seq:1:lead1", NOW_MS, policy)


def target(url: str) -> str:
    assert url.startswith("https://api.example.com/v1/click/"), url
    found = verify(url.rsplit("/", 1)[1], KEY, Purpose.CLICK, NOW_MS // 1000).target
    assert found is not None
    return found


@pytest.mark.parametrize(("url", "verdict"), [
    (f"{SITE}/product/?a=1#x", TRACK),
    ("https://WWW.EXAMPLE.CO.JP:443/product/", TRACK),
    ("http://www.example.co.jp/", REFUSE),  # another origin (scheme)
    ("https://zoom.us/j/1", KEEP),
    ("https://us02web.zoom.us/j/1", KEEP),
    ("https://notzoom.us/j/1", REFUSE),
    ("mailto:info@example.co.jp", KEEP),
    ("tel:03-1234-5678", KEEP),
    ("#top", KEEP),
    ("/product/", REFUSE),
    ("JavaScript:alert(1)", REFUSE),
    ("", REFUSE),
    # hosts as a browser reads them (tests/url_corpus.py has many more)
    ("https://evil.example\\@www.example.co.jp/", REFUSE),
    ("https://www.example.co.jp@evil.example/", REFUSE),
    ("https://user@www.example.co.jp/", REFUSE),
    ("https://zoom.us\\@www.example.co.jp/", REFUSE),
    ("https://www.example.co.jp\\@zoom.us/", REFUSE),  # on the site, but it reads as zoom.us
    ("https://ｗｗｗ.example.co.jp/%2e%2e/product/", TRACK),
    ("https:www.example.co.jp/", REFUSE),  # a browser opens it on the site; written unlike a link
    ("https://www.example.co.jp./", REFUSE),
    ("//www.example.co.jp/", REFUSE),
    ("/\\evil.example/", REFUSE),
])
def test_policy(url: str, verdict: str) -> None:
    assert POLICY.decide(url)[0] == verdict


def test_the_signed_target_is_the_link_as_the_browser_reads_it() -> None:
    assert POLICY.decide("https://ｗｗｗ.example.co.jp/a/%2e%2e/b?q=1") == (TRACK, f"{SITE}/b?q=1")
    verdict, why = POLICY.decide("https://evil.example\\@www.example.co.jp/")
    assert verdict == REFUSE and "evil.example" in why, "the check names the host the reader would really get"


def test_html_links_of_every_quoting_become_click_urls_with_the_exact_target() -> None:
    html = (f'<a href="{SITE}/a?x=1&amp;y=2">1</a> <A class="b" HREF=\'{SITE}/b\'>2</A> <a href={SITE}/c>3</a>'
            f' <a title="a > b" href="{SITE}/d">4</a> <link href="{SITE}/style.css"> <a data-href="{SITE}/e">5</a>')
    report = LinkReport()
    out = rewrite_html(html, POLICY, signer(), report)
    assert report.tracked == [f"{SITE}/a?x=1&y=2", f"{SITE}/b", f"{SITE}/c", f"{SITE}/d"]
    hrefs = re.findall(r'\shref="([^"]*)"', out, re.IGNORECASE)
    assert [target(h) for h in hrefs if "/v1/click/" in h] == report.tracked
    assert out.count("/v1/click/") == 4
    assert f'<link href="{SITE}/style.css">' in out and f'data-href="{SITE}/e"' in out  # only <a> links


def test_the_same_link_twice_gets_the_same_token() -> None:
    report = LinkReport()
    out = rewrite_html(f'<a href="{SITE}/x">a</a><a href="{SITE}/x">b</a>', POLICY, signer(), report)
    first, second = (part.split('"')[1] for part in out.split(" href=")[1:])
    assert first == second


def test_text_urls_end_where_japanese_or_punctuation_starts() -> None:
    text = (f"詳しくは{SITE}/seminar/をご覧ください。\n資料：{SITE}/a.pdf.\n（{SITE}/b）\n"
            f"<{SITE}/c?q=1&r=2>\nhttps://us02web.zoom.us/j/1 から参加")
    report = LinkReport()
    out = rewrite_text(text, POLICY, signer(), report)
    assert report.tracked == [f"{SITE}/seminar/", f"{SITE}/a.pdf", f"{SITE}/b", f"{SITE}/c?q=1&r=2"]
    assert "をご覧ください。" in out and out.count("/v1/click/") == 4
    assert "https://us02web.zoom.us/j/1 から参加" in out


def test_rebase_serves_production_links_from_the_local_site() -> None:
    local = LinkPolicy(("http://127.0.0.1:8788",), rebase=((SITE, "http://127.0.0.1:8788"),))
    report = LinkReport()
    out = rewrite_html(f'<a href="{SITE}/product/?a=1#f">x</a>', local, signer(local), report)
    assert target(out.split('"')[1]) == "http://127.0.0.1:8788/product/?a=1#f"


def test_a_link_that_reads_as_one_host_and_opens_another_goes_out_as_a_dead_link() -> None:
    """The rule for template links a browser reads on another host than a person does (a link from a
    lead's attribute, a template uploaded before the check): never tracked, never a link."""
    html = ('<a href="https://evil.example\\@www.example.co.jp/">a</a>'
            '<a href="https://www.example.co.jp@evil.example/">b</a>'
            '<a href="/\\evil.example/">c</a><a href="https://OTHER.example/a/../path">d</a>'
            f'<a href="{SITE}/ok">e</a>')
    report = LinkReport()
    out = rewrite_html(html, POLICY, signer(), report)
    hrefs = re.findall(r'href="([^"]*)"', out)
    assert hrefs[:3] == ["#", "#", "#"]
    assert hrefs[3] == "https://other.example/path", "a plain foreign link goes out as the browser reads it"
    assert target(hrefs[4]) == f"{SITE}/ok", "positive control: the site's link is tracked"
    assert len(report.refused) == 4 and report.tracked == [f"{SITE}/ok"]


def test_refused_dangerous_links_are_neutralised_at_send_time() -> None:
    report = LinkReport()
    out = rewrite_html('<a href="javascript:alert(1)">x</a><a href="https://other.example/">y</a>', POLICY,
                       signer(), report)
    assert 'href="#"' in out and 'href="https://other.example/"' in out
    assert [u for u, _ in report.refused] == ["javascript:alert(1)", "https://other.example/"]


# --- context ----------------------------------------------------------------------------------------

MAIL = load_mail_config("""
sender:
  from_address: info@example.co.jp
  from_name: サンプル株式会社
  company: サンプル株式会社
  name: サンプル株式会社 営業部
  address: 東京都千代田区丸の内1-2-3
  contact_email: info@example.co.jp
""")


def test_context_has_exactly_the_contract_variables() -> None:
    owners = OwnerDirectory({"Sato.Kenji@example.co.jp": Owner(name="佐藤 健二", phone="03-1")})
    lead = Lead(lead_id="l", email="a@example.jp", registered_at=1_767_657_600_000, owner="sato.kenji@example.co.jp",
                attrs={"業種": "製造業"})
    context = build_context(lead, owners, MAIL.sender, "nurture", "step-1", NOW_MS, ZoneInfo("Asia/Tokyo"))
    assert set(context) == {"lead", "owner", "sender", "sequence", "today"}
    assert context["owner"] == {"name": "佐藤 健二", "email": "sato.kenji@example.co.jp", "phone": "03-1", "title": ""}
    assert context["lead"]["registered_at"].isoformat() == "2026-01-06"
    assert context["today"].isoformat() == "2026-11-23"
    assert context["lead"]["attrs"]["業種"] == "製造業" and context["lead"]["attrs"]["未登録の列"] == ""
    assert context["lead"]["name"] == "" and context["lead"]["company"] == ""
    paths = {f"{k}.{sub}" for k, v in context.items() if isinstance(v, dict) for sub in v}
    assert paths <= KNOWN_VARIABLES


def test_an_owner_not_in_owners_yaml_is_replaced_by_the_team() -> None:
    lead = Lead(lead_id="l", email="a@example.jp", registered_at=NOW_MS, owner="someone@example.co.jp")
    context = build_context(lead, OwnerDirectory(), MAIL.sender, "s", "1", NOW_MS, ZoneInfo("Asia/Tokyo"))
    assert context["owner"]["name"] == "サンプル株式会社 営業部"
    assert context["owner"]["email"] == "info@example.co.jp"


def test_mail_config_errors_name_the_line_and_field() -> None:
    with pytest.raises(ConfigError) as caught:
        load_mail_config("sender:\n  from_address: not-an-address\n  from_name: x\n", "mail.yaml")
    text = str(caught.value)
    assert "mail.yaml:2:" in text and "not an email address" in text
    assert "'company' is required" in text


SENDER = """
sender:
  from_address: info@example.co.jp
  from_name: サンプル株式会社
  company: サンプル株式会社
  name: サンプル株式会社 営業部
  address: 東京都千代田区丸の内1-2-3
  contact_email: info@example.co.jp
"""


def test_untracked_hosts_and_the_contact_url_are_stored_as_browsers_read_them() -> None:
    mail = load_mail_config(SENDER + "  contact_url: https://ｗｗｗ.example.co.jp/contact/../contact/\n"
                            "untracked_link_hosts: [ＺＯＯＭ.us, 例え.jp]\n")
    assert mail.untracked_link_hosts == ("zoom.us", "xn--r8jz45g.jp")
    assert mail.sender.contact_url == f"{SITE}/contact/"
    policy = LinkPolicy((SITE,), frozenset(mail.untracked_link_hosts))
    assert policy.decide("https://US02WEB.ｚｏｏｍ.us/j/1") == (KEEP, "https://us02web.zoom.us/j/1")
    assert policy.decide("https://例え.jp/x") == (KEEP, "https://xn--r8jz45g.jp/x")
    assert policy.decide("https://evil.example\\@zoom.us/")[0] == REFUSE, "browsers open evil.example"
    with pytest.raises(ConfigError, match="contact_url"):
        load_mail_config(SENDER + "  contact_url: https://evil.example\\@www.example.co.jp/\n")
