"""Tricky URLs and the host a WHATWG URL parser (every browser) gives them, with the site
``https://www.example.co.jp``; and a generator of more such URLs from the same pieces.

Used by tests/unit/test_urls.py (our allow-list against the corpus and against the parser) and by
tests/browser/test_url_parsing.py (headless Chromium's ``new URL()`` against the same corpus, so
the expectations here are a browser's, not ours).
"""

from __future__ import annotations

import random

SITE = "https://www.example.co.jp"
SITE_HOST = "www.example.co.jp"
EVIL = "evil.example"

#: (input, host a browser parses, opened on the site): host None = a browser refuses the URL on its
#: own (no base URL); "" = parsed but no host (javascript:, data:). "on the site" = https, our host,
#: default port, and no user name or password (ours: a link with a user name misleads a reader).
CORPUS: list[tuple[str, str | None, bool]] = [
    # a backslash ends the host of an http(s) URL: the "@" lands in the path
    ("https://evil.example\\@www.example.co.jp/", EVIL, False),
    ("https://www.example.co.jp\\@evil.example/", SITE_HOST, True),
    ("https://evil.example\\.www.example.co.jp/", EVIL, False),
    ("https:\\\\evil.example\\", EVIL, False),
    ("https:/\\evil.example/", EVIL, False),
    # user info: the host is after the last "@"
    ("https://www.example.co.jp@evil.example/", EVIL, False),
    ("https://www.example.co.jp:443@evil.example/", EVIL, False),
    ("https://www.example.co.jp%2F@evil.example/", EVIL, False),
    ("https://user:pass@www.example.co.jp/", SITE_HOST, False),
    ("https://evil.example%5C@www.example.co.jp/", SITE_HOST, False),
    ("https://@www.example.co.jp/", SITE_HOST, True),
    ("https://evil.example#@www.example.co.jp/", EVIL, False),
    ("https://evil.example?@www.example.co.jp/", EVIL, False),
    ("https://www.example.co.jp#@evil.example", SITE_HOST, True),
    # tabs and newlines are removed anywhere; leading/trailing controls and spaces are stripped
    ("https://www.exa\tmple.co.jp/", SITE_HOST, True),
    ("https://www.example.co.jp\n.evil.example/", "www.example.co.jp.evil.example", False),
    ("https://evil.exa\r\nmple\\@www.example.co.jp/", EVIL, False),
    (" \x00\x01https://www.example.co.jp/ \x1f", SITE_HOST, True),
    ("\x01\x02 https://evil.example\\@www.example.co.jp/", EVIL, False),
    ("https://www.example.co.jp /", None, False),
    # percent-encoded dots and slashes: decoded in the host, resolved in the path
    ("https://www%2eexample%2eco%2ejp/", SITE_HOST, True),
    ("https://evil.example%2f.www.example.co.jp/", None, False),
    ("https://www.example.co.jp%00/", None, False),
    ("https://www.example.co.jp/%2e%2e/%2E%2e/admin", SITE_HOST, True),
    ("https://www.example.co.jp/\\evil.example", SITE_HOST, True),
    # IDN: full-width and ideographic characters are mapped; look-alikes become punycode
    ("https://ｗｗｗ.example.co.jp/", SITE_HOST, True),
    ("https://www.example.co.jp\u3002evil.example/", "www.example.co.jp.evil.example", False),
    ("https://www.\u0435xample.co.jp/", "www.xn--xample-2of.co.jp", False),  # Cyrillic е
    ("https://\u0430\u0440\u0440\u04cf\u0435.com/", "xn--80ak6aa92e.com", False),
    ("https://XN--80AK6AA92E.com/", "xn--80ak6aa92e.com", False),
    ("https://www.example.co.jp\uff0fevil.example/", None, False),  # full-width solidus maps to "/"
    # schemes: case-insensitive; special schemes need no slashes
    ("HTTPS://WWW.EXAMPLE.CO.JP/", SITE_HOST, True),
    ("hTtPs://www.example.co.jp/", SITE_HOST, True),
    ("https:evil.example", EVIL, False),
    ("https:www.example.co.jp/", SITE_HOST, True),
    ("http://www.example.co.jp/", SITE_HOST, False),
    ("javascript:alert(1)", "", False),
    ("JaVaScRiPt:alert(document.domain)//https://www.example.co.jp/", "", False),
    ("data:text/html,<script>alert(1)</script>", "", False),
    # relative: nothing on their own (in a page or a webmail they resolve against its address)
    ("//evil.example/", None, False),
    ("/\\evil.example/", None, False),
    ("\\\\evil.example\\", None, False),
    ("/product/", None, False),
    # ports
    ("https://www.example.co.jp:443/", SITE_HOST, True),
    ("https://www.example.co.jp:0443/", SITE_HOST, True),
    ("https://www.example.co.jp:/", SITE_HOST, True),
    ("https://www.example.co.jp:8443/", SITE_HOST, False),
    ("https://www.example.co.jp:65536/", None, False),
    # trailing dots: another origin
    ("https://www.example.co.jp./", "www.example.co.jp.", False),
    # IPv4 shorthand, hex, octal, full-width digits
    ("http://0x7f.1/", "127.0.0.1", False),
    ("http://2130706433/", "127.0.0.1", False),
    ("http://0177.0.0.1/", "127.0.0.1", False),
    ("https://\uff11\uff12\uff17.0.0.1/", "127.0.0.1", False),
    ("http://[::ffff:127.0.0.1]/", "[::ffff:7f00:1]", False),
]

# --- generated URLs -----------------------------------------------------------------------------

LEAD = ["", "", " ", "\x00", "\t", "\x1f "]
SCHEMES = ["https", "HTTPS", "hTtPs", "http", "javascript", "data", "ftp", "https "]
AFTER_SCHEME = ["://", ":/", ":", ":\\\\", ":/\\", "://\t", ":\\/"]
USERINFO = ["", "", "", "user@", "user:pw@", "@", ":@", "www.example.co.jp@", "evil.example\\@", "a%40b@",
            "www.example.co.jp%2f@"]
HOSTS = ["www.example.co.jp", "www.example.co.jp", "WWW.Example.CO.JP", "ｗｗｗ.example.co.jp", "www%2eexample.co.jp",
         "evil.example", "www.example.co.jp.evil.example", "www.example.co.jp.", "www.\u0435xample.co.jp",
         "www.exa\tmple.co.jp", "www.exa\nmple.co.jp", "0x7f.1", "127.1", "[::1]", "xn--80ak6aa92e.com",
         "www.example.co.jp\u3002evil.example", "", "www.example.co.jp\\", "evil.example\\"]
PORTS = ["", "", ":443", ":0443", ":", ":8443", ":80", ":99999", ":x"]
TAILS = ["/", "", "/product/", "\\@evil.example/", "@evil.example/", "/%2e%2e/x", "/..%2f..%2fx", "\\\\evil.example",
         "?q=1#f", "#@evil.example", "/\\evil.example", "%2f@evil.example/", "/?a=b\\c"]
TRAIL = ["", "", " ", "\n", "\x00"]


def tricky_url(pick: random.Random) -> str:
    parts = (LEAD, SCHEMES, AFTER_SCHEME, USERINFO, HOSTS, PORTS, TAILS, TRAIL)
    return "".join(pick.choice(p) for p in parts)


def tricky_urls(count: int, seed: int) -> list[str]:
    pick = random.Random(seed)
    return [tricky_url(pick) for _ in range(count)]
