"""The lead who comes back, as `reawake demo` plays it: some minutes after the mail arrived they
click its link (the tracked redirect), browse the demo site in Chrome (what t.js sends), and the
owner's alert mail arrives in the outbox."""

from __future__ import annotations

import json
import re
import secrets
import time
import urllib.error
import urllib.request
from dataclasses import dataclass
from datetime import UTC, datetime
from email.utils import parseaddr
from pathlib import Path
from typing import TYPE_CHECKING, Any
from urllib.parse import parse_qsl, urlencode, urlsplit, urlunsplit

from reawake.core.leads import Lead
from reawake.stepmail.enrollment import Enrollment
from reawake.tracking.routes import IDENTIFY_PARAM
from reawake_tools.demo.stage import Stage, StepFailed, enrollments, next_wake
from reawake_tools.local.outbox import parse, part

if TYPE_CHECKING:
    from reawake_tools.demo.scenario import Imported, Sent

CHROME = ("Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) "
          "Chrome/131.0.0.0 Safari/537.36")
READ_MAIL_AFTER_S = 20 * 60  # a person clicks minutes after delivery; a mail scanner within seconds
BROWSE = ("/product/", "/seminar/")  # after the landing page: the product, then the seminars


@dataclass(frozen=True)
class Clicked:
    role: str
    lead_id: str
    link_text: str
    url: str
    status: int
    location: str
    clicked_at: datetime  # stack time
    answered_at: float  # monotonic: the click's HTTP response
    next_wake_ms: int | None  # when its sequence would have sent the next step


_ANCHOR = re.compile(r'<a\s[^>]*href="([^"]*/v1/click/[^"]+)"[^>]*>(.*?)</a>', re.S)
_TAGS = re.compile(r"<[^>]+>")


class _NoRedirect(urllib.request.HTTPRedirectHandler):
    def redirect_request(self, *args: Any, **kwargs: Any) -> None:
        return None


def http(method: str, url: str, body: Any = None, headers: dict[str, str] | None = None) -> tuple[int, Any, bytes]:
    """(status, headers, body) of one request, redirects not followed (a 3xx is an answer)."""
    if not url.startswith(("http://", "https://")):
        raise StepFailed(f"not an http(s) URL: {url!r}")
    data = None if body is None else json.dumps(body, ensure_ascii=False).encode()
    request = urllib.request.Request(url, data=data, method=method,  # noqa: S310 - http(s), checked above
                                     headers={"user-agent": CHROME, **(headers or {})})
    try:
        with urllib.request.build_opener(_NoRedirect).open(request, timeout=15) as response:
            return response.status, response.headers, response.read()
    except urllib.error.HTTPError as error:
        return error.code, error.headers, error.read()


@dataclass(frozen=True)
class Link:
    url: str  # the tracked /v1/click/ URL
    text: str
    target: str  # the page it leads to (read from its signed token, as the track function does)


def tracked_links(stage: Stage, mail: Path) -> list[Link]:
    from reawake.core.tokens import Purpose, TokenError, verify
    from reawake.tracking.routes import signing_key

    key, now = signing_key(stage.settings), stage.now_ms() // 1000
    html = mail.with_suffix(".html").read_text(encoding="utf-8")
    links = []
    for url, text in _ANCHOR.findall(html):
        try:
            target = verify(url.rsplit("/", 1)[1], key, Purpose.CLICK, now).target or ""
        except TokenError:
            continue
        links.append(Link(url.replace("&amp;", "&"), " ".join(_TAGS.sub("", text).split()), target))
    return links


def is_page(url: str) -> bool:
    """A page of the site a browser shows (and t.js runs on): an HTML answer."""
    status, headers, _ = http("GET", without_identify(url))
    return status == 200 and str(headers.get("content-type", "")).startswith("text/html")


def link_to_click(stage: Stage, mail: Path) -> Link:
    """The link a reader follows: the first leading to a page of the site other than its top page
    (a PDF, a file or a missing page would not run the snippet), else the top page."""
    site = stage.info["site_url"]
    pages = [x for x in tracked_links(stage, mail) if x.target.startswith(site) and is_page(x.target)]
    inner = [x for x in pages if urlsplit(x.target).path not in ("", "/")]
    if not (inner or pages):
        raise StepFailed(f"no tracked link to a page of the demo site in {mail.name}")
    return (inner or pages)[0]


def click(stage: Stage, imported: Imported, sent: Sent, role: str = "clicker") -> Clicked:
    """Some minutes after delivery, the lead opens the mail and clicks its link (no redirect followed)."""
    mail = next((m for m in sent.mails if m.role == role), None)
    if mail is None:
        raise StepFailed(f"the {role} lead got no mail to click")

    def recorded() -> tuple[Enrollment, Lead] | None:  # the engine records a step just after sending it
        found = enrollments(stage, imported.leads).get(role)
        return found if found and found[0].steps else None

    enrollment, lead = stage.wait("the sent mail to be recorded on its enrollment", recorded)
    stage.jump_to(stage.now_ms() + READ_MAIL_AFTER_S * 1000)
    wake = next_wake(enrollment, lead, stage.now_ms())
    link = link_to_click(stage, mail.path)
    status, headers, _ = http("GET", link.url)
    location = str(headers.get("location") or "")
    if status != 302 or IDENTIFY_PARAM not in location:
        raise StepFailed(f"the tracked link answered {status} {location!r}, expected 302 with {IDENTIFY_PARAM}")
    return Clicked(role, lead.lead_id, link.text, link.url, status, location, stage.now(), time.monotonic(),
                   wake)


@dataclass(frozen=True)
class Page:
    url: str
    title: str


@dataclass(frozen=True)
class Visited:
    lead_id: str
    pages: list[Page]
    revisits: int  # events of this visit flagged as a dormant lead's return (the click included)
    events: int
    dormant_since: datetime | None
    first_view_at: float  # monotonic: the first page view's HTTP response


def without_identify(url: str) -> str:
    parts = urlsplit(url)
    query = urlencode([(k, v) for k, v in parse_qsl(parts.query) if k != IDENTIFY_PARAM])
    return urlunsplit(parts._replace(query=query))


def page_title(url: str) -> str:
    status, _, body = http("GET", url)
    found = re.search(r"<title>(.*?)</title>", body.decode("utf-8", "replace"), re.S) if status == 200 else None
    return found.group(1).strip() if found else ""


def browse(stage: Stage, clicked: Clicked) -> Visited:
    """What t.js does in the lead's Chrome: identify with the link's token, then a page view per page."""
    api, site = stage.info["api_url"], stage.info["site_url"]
    headers = {"content-type": "text/plain", "origin": site}
    visitor = secrets.token_hex(16)
    token = dict(parse_qsl(urlsplit(clicked.location).query))[IDENTIFY_PARAM]
    status, _, body = http("POST", f"{api}/v1/identify", {"visitor_id": visitor, "token": token}, headers)
    if status != 200:
        raise StepFailed(f"identify answered {status}: {body[:200]!r}")
    landing = without_identify(clicked.location)
    pages = [Page(url, page_title(url)) for url in (landing, *(site + p for p in BROWSE))]
    first_view_at, referrer = 0.0, ""
    for page in pages:
        event = {"id": secrets.token_hex(12), "type": "page_view", "ts": int(time.time() * 1000),
                 "visitor_id": visitor, "url": page.url, "props": {"title": page.title}}
        if referrer:
            event["referrer"] = referrer
        status, _, body = http("POST", f"{api}/v1/events", [event], headers)
        if status != 202:
            raise StepFailed(f"a page view answered {status}: {body[:200]!r}")
        first_view_at, referrer = first_view_at or time.monotonic(), page.url
        time.sleep(0.2)  # reading the page
    lead_id = clicked.lead_id
    since = int(clicked.clicked_at.timestamp() * 1000) - 60_000
    visit = [e for e in stage.store.lead_events(lead_id) if e.ts >= since and e.kind in ("email_click", "page_view")]
    lead = stage.store.get_lead(lead_id)
    dormant = datetime.fromtimestamp(lead.dormant_since / 1000, UTC) if lead and lead.dormant_since else None
    revisits = sum(e.revisit for e in visit)
    if not revisits:
        raise StepFailed(f"none of the visit's {len(visit)} events counts as a revisit (is the lead dormant?)")
    return Visited(lead_id, pages, revisits, len(visit), dormant, first_view_at)



# --- 5. the owner's alert -------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Alerted:
    to: str
    owner_name: str
    subject: str
    lines: list[str]  # the key lines of its text part
    latency_s: float  # first page view's HTTP response -> the alert mail in the outbox
    after_click_s: float  # the click's HTTP response -> the alert mail (a click is judged after a settle time)
    path: Path
    alerts: int  # alert mails for this lead (one: the rest of the visit is throttled)
    reactivated_at: datetime | None


ALERT_KEY_LINES = re.compile(r"^(会社名|氏名|担当営業|- |休眠前の最終アクティビティ|再訪|きっかけ|スコア|\d+\. )")


def alert_mails(stage: Stage, lead_id: str) -> list[Path]:
    """The outbox's complete alert mails about the lead (its Message-ID seed is ``alert:<lead>:<at>``)."""
    found = []
    for path in sorted(stage.outbox.glob("*.eml")):
        raw = path.read_text(encoding="ascii", errors="replace")
        if f"alert:{lead_id}:" in raw and raw.rstrip().endswith("--"):  # the closing boundary: written whole
            found.append(path)
    return found


def await_alert(stage: Stage, clicked: Clicked, visited: Visited) -> Alerted:
    from reawake.mail.templates import TemplateStore

    (path, *_) = stage.wait("the owner's alert mail", lambda: alert_mails(stage, visited.lead_id))
    seen = time.monotonic()
    message = parse(path.read_bytes())
    to = parseaddr(str(message.get("To", "")))[1]
    owner = TemplateStore(stage.settings.config_bucket).owners().get_owner(to)
    text = part(message, "plain")
    lines = [line.strip() for line in text.splitlines() if ALERT_KEY_LINES.match(line.strip())]
    time.sleep(0.5)  # the other page views of the visit are revisits too: they must not alert again
    lead = stage.store.get_lead(visited.lead_id)
    reactivated = lead.reactivated_at if lead else None
    count = len(alert_mails(stage, visited.lead_id))
    if count != 1 or reactivated is None:
        raise StepFailed(f"{count} alert mails for one visit and the lead {'not ' if reactivated is None else ''}"
                         "reactivated: expected one alert and a reactivated lead")
    return Alerted(to, owner.name if owner else "", str(message.get("Subject", "")), lines,
                   seen - visited.first_view_at, seen - clicked.answered_at, path, count,
                   datetime.fromtimestamp(reactivated / 1000, UTC) if reactivated else None)
