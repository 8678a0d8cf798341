"""The demo website on loopback: the pages under ``site/`` with ``{{API_URL}}`` filled in, so the
snippet on them reports to the local API. Static and read-only, like a site on S3 + CloudFront."""

from __future__ import annotations

import logging
import mimetypes
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any
from urllib.parse import quote, unquote

from reawake_tools.local.template import ROOT

log = logging.getLogger("reawake_local")

SITE_DIR = ROOT / "site"
PLACEHOLDER = "{{API_URL}}"
TYPES = {".html": "text/html; charset=utf-8", ".js": "application/javascript; charset=utf-8",
         ".css": "text/css; charset=utf-8", ".json": "application/json", ".svg": "image/svg+xml"}

# Served at / while site/index.html does not exist, so the stack always has a page with the snippet.
FALLBACK_INDEX = """<!doctype html>
<html lang="ja"><head><meta charset="utf-8"><title>Reawake demo</title>
<script async src="{{API_URL}}/v1/t.js"></script></head>
<body><h1>Reawake デモサイト</h1><p>このページはトラッキングスニペットを読み込んでいます。</p></body></html>
"""


def folder_location(folder: Path) -> str:
    """The redirect to a folder's index, written from the folder found on disk, never from the
    request: a request for ``//evil.example/../product`` or ``/%5Cevil.example/../product`` would
    otherwise answer ``Location: //evil.example/../product/``, which a browser reads as another host."""
    return "/" + "".join(quote(part, safe="") + "/" for part in folder.parts)


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    server: SiteServer

    def do_GET(self) -> None:
        self._serve(head=False)

    def do_HEAD(self) -> None:
        self._serve(head=True)

    def _serve(self, head: bool) -> None:
        path = unquote(self.path.split("?", 1)[0].split("#", 1)[0])
        status, headers, body = self.server.page(path)
        self.send_response(status)
        for name, value in {"cache-control": "no-store", **headers}.items():
            self.send_header(name, value)
        self.send_header("content-length", str(len(body)))
        self.end_headers()
        if not head:
            self.wfile.write(body)

    def log_message(self, format: str, *args: Any) -> None:
        log.debug("site: " + format, *args)


class SiteServer(ThreadingHTTPServer):
    daemon_threads = True
    block_on_close = False

    def __init__(self, host: str, port: int, site_dir: Path = SITE_DIR) -> None:
        super().__init__((host, port), _Handler)
        self.site_dir = site_dir.resolve()
        self.api_url = ""

    @property
    def url(self) -> str:
        host, port = self.server_address[:2]
        return f"http://{host!s}:{port}"

    def page(self, path: str) -> tuple[int, dict[str, str], bytes]:
        """(status, headers, body) for a URL path; never anything outside site/."""
        target = (self.site_dir / path.lstrip("/")).resolve()
        if not target.is_relative_to(self.site_dir):
            return self._not_found()
        if target.is_dir():
            if not path.endswith("/"):
                return 301, {"location": folder_location(target.relative_to(self.site_dir))}, b""
            target = target / "index.html"
        if not target.is_file():
            if path == "/":
                return self._html(FALLBACK_INDEX)
            spa = self.site_dir / "app" / "index.html"
            if path.startswith("/app/") and spa.is_file():  # the SPA's own routes (history fallback)
                return self._html(spa.read_text(encoding="utf-8"))
            return self._not_found()
        if target.suffix == ".html":
            return self._html(target.read_text(encoding="utf-8"))
        kind = TYPES.get(target.suffix) or mimetypes.guess_type(target.name)[0] or "application/octet-stream"
        return 200, {"content-type": kind}, target.read_bytes()

    def _html(self, text: str) -> tuple[int, dict[str, str], bytes]:
        return 200, {"content-type": TYPES[".html"]}, text.replace(PLACEHOLDER, self.api_url).encode("utf-8")

    def _not_found(self) -> tuple[int, dict[str, str], bytes]:
        body = "<!doctype html><meta charset=utf-8><title>404</title><p>ページが見つかりません (404)</p>"
        return 404, {"content-type": TYPES[".html"]}, body.encode("utf-8")
