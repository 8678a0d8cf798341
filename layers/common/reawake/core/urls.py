"""URLs read the way browsers read them: the one place that parses a URL before we trust it.

``urllib.parse`` is not a browser: ``https://evil.example\\@www.example.co.jp/`` is on
www.example.co.jp for it, and on evil.example for every browser (a backslash ends the host of an
http(s) URL, so the ``@`` lands in the path). Every allow-list (event URLs, Origin headers, click
targets, template links, links in alert mail) and every link we emit goes through this module,
which uses ada-url, a WHATWG URL Standard parser (the one Node.js uses): tabs and newlines removed,
leading/trailing control characters and spaces stripped, backslashes as slashes, user info,
percent-encoded host characters decoded, IDN mapped to punycode (full-width ``ｗｗｗ`` to ``www``),
IPv4 shorthand (``0x7f.1``) made canonical, ``.``/``..`` and ``%2e%2e`` path segments resolved,
default ports dropped, schemes lowercased. What we emit is the parser's serialization (``href``),
so a mail client or browser that reads it gets the host we checked.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass
from functools import lru_cache
from urllib.parse import urlencode, urlsplit

from ada_url import parse_url, replace_url

WEB_SCHEMES = ("http", "https")


@dataclass(frozen=True)
class Url:
    """A URL as the WHATWG parser gives it. ``host`` is ASCII (punycode), lowercase, without a
    port; ``port`` is "" for the scheme's default; ``origin`` is ``scheme://host[:port]`` (or
    ``null`` for schemes without one)."""

    href: str
    scheme: str
    username: str
    password: str
    host: str
    port: str
    path: str
    query: str  # without the "?"
    fragment: str  # without the "#"
    origin: str

    @property
    def is_web(self) -> bool:
        """http(s) with a host: something a browser would open as a page."""
        return self.scheme in WEB_SCHEMES and bool(self.host)

    @property
    def has_credentials(self) -> bool:
        """``https://www.example.co.jp@evil.example/`` reads as our host to a person; no link of ours
        needs a user name or password."""
        return bool(self.username or self.password)


_ATTRIBUTES = ("href", "protocol", "username", "password", "hostname", "port", "pathname", "search", "hash", "origin")


@lru_cache(maxsize=1024)  # the same pages come back again and again (a Url is immutable); ~MBs at most
def parse(url: str) -> Url | None:
    """The URL as a browser parses it on its own (no base URL), or None when a browser would
    refuse it (or it cannot be encoded: a lone surrogate)."""
    try:
        parts = parse_url(url, _ATTRIBUTES)
    except ValueError:
        return None
    return Url(
        href=parts["href"],
        scheme=parts["protocol"].removesuffix(":"),
        username=parts["username"],
        password=parts["password"],
        host=parts["hostname"],
        port=parts["port"],
        path=parts["pathname"],
        query=parts["search"].removeprefix("?"),
        fragment=parts["hash"].removeprefix("#"),
        origin=parts["origin"],
    )


def web_url(url: str) -> Url | None:
    """An absolute http(s) URL with a host, as a browser reads it; None otherwise."""
    parsed = parse(url)
    return parsed if parsed is not None and parsed.is_web else None


def origin_of(url: str) -> str:
    """``scheme://host[:port]`` of an http(s) URL as a browser reads it; "" for anything else."""
    parsed = web_url(url)
    return parsed.origin if parsed else ""


def normalize_origin(origin: str) -> str:
    """A configured origin (``https://WWW.Example.co.jp/``, ``https://ｗｗｗ.example.co.jp``) as a
    browser serializes it; text that is not an origin is kept (trimmed) so it never matches."""
    text = origin.strip().rstrip("/")
    return origin_of(text + "/") or text


def site_url(url: str, site_origins: Iterable[str]) -> Url | None:
    """The URL when a browser would open it on one of ``site_origins`` (already normalized), with no
    user name or password; None otherwise. Emit ``.href``, never the input."""
    parsed = web_url(url)
    if parsed is None or parsed.has_credentials or parsed.origin not in tuple(site_origins):
        return None
    return parsed


def is_site_url(url: str, site_origins: Iterable[str]) -> bool:
    return site_url(url, site_origins) is not None


def is_site_origin(header: str, site_origins: Iterable[str]) -> bool:
    """An ``Origin`` header naming one of the sites. Browsers send the serialized origin; anything
    with a path, user info or a query is not an origin."""
    parsed = web_url(header)
    if parsed is None or parsed.has_credentials or parsed.href not in (parsed.origin, parsed.origin + "/"):
        return False
    return parsed.origin in tuple(site_origins)


def with_query_param(url: Url, name: str, value: str) -> str:
    """``url`` (as serialized) with ``name=value`` added to its query, before the fragment."""
    return replace_url(url.href, search=(url.query + "&" if url.query else "") + urlencode({name: value}))


def host_of(url: str) -> str:
    """The host a browser would contact (ASCII), "" when there is none."""
    parsed = web_url(url)
    return parsed.host if parsed else ""


def normalize_host(host: str) -> str:
    """A configured host name as a browser stores it (IDN to punycode, lowercase, no trailing dot);
    "" when a browser would refuse it or it carries more than a host."""
    return _canonical_host(host.strip().rstrip("."))


def _canonical_host(text: str) -> str:
    if not text or any(c in text for c in "/\\?#@") or (":" in text and not text.startswith("[")):
        return ""
    parsed = web_url(f"https://{text}/")
    if parsed is None or parsed.port or parsed.href != f"https://{parsed.host}/":
        return ""
    return parsed.host


def naive_host(url: str) -> str:
    """The host a reader that is not a browser sees (a person, ``urllib``, many mail filters): the
    text between ``//`` and the first ``/``, after the last ``@``, normalized like a browser's host."""
    try:
        host = urlsplit(url.strip()).hostname or ""
    except ValueError:
        return ""
    return _canonical_host(f"[{host}]" if ":" in host else host)


def reads_differently(url: str) -> bool:
    """True when a browser goes to another host than the one a person or a non-browser parser reads
    (``https://evil.example\\@www.example.co.jp/``), or a user name stands before the host."""
    parsed = web_url(url)
    if parsed is None:
        return False
    return parsed.has_credentials or naive_host(url) != parsed.host


# Something a mail client or chat would turn into a link: a scheme with "//", or a bare domain
# name (``www.evil.example``, ``例え.jp``): labels and dots ending in an ASCII letter TLD.
_LINKABLE = re.compile(
    r"(?i)\b[a-z][a-z0-9+.-]*:/*[\\/]+[^\s<>\"']*"
    r"|(?<![\w@.-])(?:[\w-]+\.)+[a-z]{2,63}(?![\w.-]*@)\b"
)


def defang(text: str, site_origins: Iterable[str] = ()) -> str:
    """Text from outside (a page title, a URL that is not on our sites) made safe to show in a mail
    as words: anything a mail client would turn into a link is written ``hxxps://evil[.]example``,
    the way security teams quote addresses. URLs and names on the sites are left as they are."""
    origins = tuple(site_origins)
    hosts = {host_of(origin) for origin in origins}

    def neutral(match: re.Match[str]) -> str:
        found = match.group(0)
        on_site = site_url(found, origins) is not None and not reads_differently(found)
        if on_site or normalize_host(found) in hosts - {""}:
            return found
        scheme, sep, rest = found.partition(":")
        if sep and re.match(r"[\\/]", rest):
            return scheme.replace("t", "x").replace("T", "X") + "[:]" + rest.replace(".", "[.]")
        return found.replace(".", "[.]")

    return _LINKABLE.sub(neutral, text)
