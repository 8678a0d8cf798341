"""Tracked links in a rendered mail: every link to the sites becomes a signed click URL, plus the
open pixel and the unsubscribe URL.

A link is *tracked* when a browser would open it on one of the stack's site origins (the click
endpoint only ever redirects there), *kept* when it is an anchor, ``mailto:``/``tel:``, or on a host
the mail config lists in ``untracked_link_hosts``, and *refused* otherwise (another host, a host that
reads differently to a person than to a browser, a relative or ``javascript:`` link):
``check_template`` reports refused links before upload. Hosts are always the browser's reading
(``reawake.core.urls``), and what is signed or kept is the browser's serialization of the link.
"""

from __future__ import annotations

import html
import re
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import yaml

from reawake.core.settings import Locale, get_settings
from reawake.core.tokens import Purpose, Token, sign
from reawake.core.urls import naive_host, normalize_origin, reads_differently, web_url
from reawake.mail.config import MailConfig

CLICK_TTL_DAYS = 180  # an expired click link still redirects, unidentified
UNSUBSCRIBE_TTL_DAYS = 365  # the API accepts expired genuine unsubscribe tokens anyway
REBASE_ENV = "LINK_REBASE"  # read by reawake.core.settings.Locale

TRACK, KEEP, REFUSE = "track", "keep", "refuse"
_KEEP_SCHEMES = ("mailto:", "tel:", "sms:")
_BAD_SCHEMES = re.compile(r"^\s*(javascript|data|vbscript|file):", re.IGNORECASE)

_A_TAG = re.compile(r"""<a\b(?:[^>"']|"[^"]*"|'[^']*')*>""", re.IGNORECASE)
_HREF = re.compile(r"""(\shref\s*=\s*)(?:"([^"]*)"|'([^']*)'|([^\s"'>]+))""", re.IGNORECASE)
_TEXT_URL = re.compile(r"https?://[A-Za-z0-9\-._~:/?#\[\]@!$&'()*+,;=%]+")
_BODY_OPEN = re.compile(r"<body\b(?:[^>\"']|\"[^\"]*\"|'[^']*')*>", re.IGNORECASE)
_BODY_CLOSE = re.compile(r"</body\s*>", re.IGNORECASE)


@dataclass(frozen=True)
class LinkPolicy:
    site_origins: tuple[str, ...]
    untracked_hosts: frozenset[str] = frozenset()
    rebase: tuple[tuple[str, str], ...] = ()

    @classmethod
    def current(cls, mail: MailConfig | None = None) -> LinkPolicy:
        """The stack's site origins (SITE_ORIGINS; template.yaml's default when unset, for checks
        without a stack), the mail config's untracked hosts and the LINK_REBASE environment."""
        locale = get_settings(Locale)
        origins = locale.site_origins or default_site_origins()
        return cls(tuple(origins), frozenset(mail.untracked_link_hosts if mail else ()), locale.link_rebase)

    def decide(self, url: str) -> tuple[str, str]:
        """(TRACK, the target to sign) | (KEEP, url) | (REFUSE, why). Hosts are the ones a browser
        reads (reawake.core.urls); the target to sign is the browser's serialization of the link."""
        stripped = url.strip()
        lowered = stripped.lower()
        if not stripped:
            return REFUSE, "an empty link"
        if stripped.startswith("#") or lowered.startswith(_KEEP_SCHEMES):
            return KEEP, url
        if _BAD_SCHEMES.match(stripped):
            return REFUSE, f"{lowered.split(':', 1)[0]}: links are not allowed in mail"
        parsed = web_url(stripped)
        if parsed is None:
            return REFUSE, "a relative or malformed link: mail needs the full address (https://...)"
        if reads_differently(stripped):
            return REFUSE, (f"browsers open this link on {parsed.host}, not where it seems to go "
                            f"({naive_host(stripped) or 'unclear'}): write the address plainly")
        for source, target in self.rebase:
            if parsed.origin == source:
                rebased = web_url(target + parsed.href[len(source):])
                if rebased is not None:
                    parsed = rebased
                break
        if parsed.origin in self.site_origins:
            return TRACK, parsed.href
        host = parsed.host
        if any(host == h or host.endswith("." + h) for h in self.untracked_hosts):
            return KEEP, parsed.href
        return REFUSE, (
            f"{host} is not one of the sites ({', '.join(self.site_origins) or 'none configured'}): the click "
            "endpoint would send the reader to the home page. Link to the site, or list the host under "
            "untracked_link_hosts in config/mail.yaml"
        )


def default_site_origins() -> tuple[str, ...]:
    """template.yaml's SiteOrigins default, for checking templates without a stack."""
    try:
        default = _template_default("SiteOrigins")
    except Exception:  # no template.yaml beside the package (e.g. in Lambda, where SITE_ORIGINS is set)
        return ()
    return tuple(normalize_origin(o) for o in str(default).split(",") if o.strip())


@dataclass
class LinkSigner:
    """Signs the links of one message to one lead."""

    api_url: str
    key: bytes
    lead_id: str
    message_id: str
    now_ms: int
    policy: LinkPolicy
    click_ttl_days: int = CLICK_TTL_DAYS
    unsubscribe_ttl_days: int = UNSUBSCRIBE_TTL_DAYS
    _clicks: dict[str, str] = field(default_factory=dict, repr=False)

    def _expiry(self, days: int) -> int:
        return self.now_ms // 1000 + days * 86_400

    def _base(self) -> str:
        return self.api_url.rstrip("/")

    def click_url(self, target: str) -> str:
        found = self._clicks.get(target)
        if found is None:
            token = Token(Purpose.CLICK, self.lead_id, self._expiry(self.click_ttl_days), target, self.message_id)
            found = self._clicks[target] = f"{self._base()}/v1/click/{sign(token, self.key)}"
        return found

    def open_url(self) -> str:
        token = Token(Purpose.OPEN, self.lead_id, self._expiry(self.click_ttl_days), message_id=self.message_id)
        return f"{self._base()}/v1/open/{sign(token, self.key)}.gif"

    def unsubscribe_url(self) -> str:
        token = Token(
            Purpose.UNSUBSCRIBE, self.lead_id, self._expiry(self.unsubscribe_ttl_days), message_id=self.message_id
        )
        return f"{self._base()}/v1/unsubscribe/{sign(token, self.key)}"


@dataclass
class LinkReport:
    tracked: list[str] = field(default_factory=list)  # original targets (after rebase)
    kept: list[str] = field(default_factory=list)
    refused: list[tuple[str, str]] = field(default_factory=list)  # (url, why)


def _rewriter(policy: LinkPolicy, signer: LinkSigner | None, report: LinkReport) -> Callable[[str], str]:
    def rewrite(url: str) -> str:
        verdict, value = policy.decide(url)
        if verdict == TRACK:
            report.tracked.append(value)
            return signer.click_url(value) if signer else url
        if verdict == KEEP:
            report.kept.append(url)
            return value
        report.refused.append((url, value))
        return sent_as_refused(url)

    return rewrite


def sent_as_refused(url: str) -> str:
    """What a mail carries for a link refused at send time (a link from a lead's attribute, a template
    uploaded before a check): an absolute http(s) link goes out as the browser will read it (the host
    the reader sees is the host they get), and ``#`` replaces a link whose host reads differently to
    a person than to a browser (a backslash or a user name before the host), a relative link (a
    webmail resolves ``//evil.example`` or ``/\\evil.example`` against its own address) and
    script/data links."""
    parsed = web_url(url.strip())
    if _BAD_SCHEMES.match(url) or parsed is None or reads_differently(url):
        return "#"
    return parsed.href


def rewrite_html(text: str, policy: LinkPolicy, signer: LinkSigner | None, report: LinkReport) -> str:
    """Every ``<a href>`` of the HTML through the policy (signer None: only classify)."""
    rewrite = _rewriter(policy, signer, report)

    def attribute(match: re.Match[str]) -> str:
        raw = next((g for g in match.groups()[1:] if g is not None), "")
        new = rewrite(html.unescape(raw))
        return f'{match.group(1)}"{html.escape(new, quote=True)}"'

    def tag(match: re.Match[str]) -> str:
        return _HREF.sub(attribute, match.group(0), count=1)

    return _A_TAG.sub(tag, text)


def _trim(url: str) -> tuple[str, str]:
    """A URL in running text without the punctuation that ends the sentence around it."""
    end = len(url)
    while end and url[end - 1] in ".,;:!?'\"":
        end -= 1
    for close, open_ in ((")", "("), ("]", "[")):
        while end and url[end - 1] == close and url[:end].count(close) > url[:end].count(open_):
            end -= 1
    return url[:end], url[end:]


def rewrite_text(text: str, policy: LinkPolicy, signer: LinkSigner | None, report: LinkReport) -> str:
    """Every http(s) URL of the plain-text part through the policy."""
    rewrite = _rewriter(policy, signer, report)

    def replace(match: re.Match[str]) -> str:
        url, rest = _trim(match.group(0))
        return rewrite(url) + rest

    return _TEXT_URL.sub(replace, text)


def pixel_tag(url: str) -> str:
    return (
        f'<img src="{html.escape(url)}" width="1" height="1" alt="" '
        'style="display:block;width:1px;height:1px;border:0;margin:0;padding:0">'
    )


def insert_before_body_end(document: str, fragment: str) -> str:
    """fragment before the last ``</body>`` (at the end when there is none)."""
    matches = list(_BODY_CLOSE.finditer(document))
    if not matches:
        return document + fragment
    at = matches[-1].start()
    return document[:at] + fragment + document[at:]


def insert_after_body_start(document: str, fragment: str) -> str:
    found = _BODY_OPEN.search(document)
    if not found:
        return fragment + document
    return document[: found.end()] + fragment + document[found.end() :]


def local_rebase(site_url: str) -> str:
    """The LINK_REBASE value for a stack whose site is ``site_url`` (the local demo site):
    template.yaml's default SiteOrigins, where the sample templates link, mapped onto it."""
    return ",".join(f"{origin}={normalize_origin(site_url)}" for origin in default_site_origins()
                    if origin != normalize_origin(site_url))


class _TagsAsNull(yaml.SafeLoader):
    """Reads template.yaml with CloudFormation's short-form tags (!Ref, !Sub...) as null: only literal
    parameter defaults are read here, and the layer must not import the tools' template reader."""


_TagsAsNull.add_multi_constructor("!", lambda loader, suffix, node: None)


def _template_default(parameter: str) -> object:
    """A parameter's default in the project's template.yaml (beside the layer in a checkout)."""
    path = Path(__file__).resolve().parents[4] / "template.yaml"
    with path.open(encoding="utf-8") as f:
        template = yaml.load(f, Loader=_TagsAsNull)  # noqa: S506 - a SafeLoader subclass
    return template["Parameters"][parameter]["Default"]
