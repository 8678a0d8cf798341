"""The local stack's outbox: every message the emulator's SES accepted, as a person would see it.

Each mail is written as ``<outbox>/<stack time>-<to>-<subject>.eml`` (the raw MIME message, opens
in any mail program) and the same name with ``.html`` (its HTML part, opens in a browser). The
folder is ``.local/outbox/`` beside ``stack.json``; it is emptied when a stack starts clean and
kept when it restarts with its saved state, so it holds what that state sent. ``reawake outbox`` lists and shows them.
"""

from __future__ import annotations

import email
import email.policy
import re
import threading
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from email.message import EmailMessage
from email.utils import parseaddr, parsedate_to_datetime
from pathlib import Path
from zoneinfo import ZoneInfo

TOKYO = ZoneInfo("Asia/Tokyo")
_UNSAFE = re.compile(r"[\\/:*?\"<>|\s\x00-\x1f]+")


def _safe(text: str, limit: int) -> str:
    return _UNSAFE.sub("_", text).strip("._")[:limit] or "_"


def parse(raw: bytes | str) -> EmailMessage:
    data = raw.encode("ascii", "replace") if isinstance(raw, str) else raw
    message: EmailMessage = email.message_from_bytes(data, policy=email.policy.default)
    return message


def part(message: EmailMessage, subtype: str) -> str:
    found = message.get_body(preferencelist=(subtype,))
    return str(found.get_content()) if found is not None else ""


class Outbox:
    """Writes each accepted message (``write``), named by the stack time it was sent at."""

    name = "outbox"

    def __init__(self, directory: Path, now_ms: Callable[[], int], tz: ZoneInfo = TOKYO, keep: bool = False) -> None:
        """keep: leave the mail already there (a stack restarted with its state)."""
        self.directory = directory
        self.keep = keep
        self.now_ms = now_ms
        self.tz = tz
        self._lock = threading.Lock()

    def start(self) -> None:
        from reawake_tools.local import moto_patches

        self.directory.mkdir(parents=True, exist_ok=True)
        for old in [] if self.keep else self.directory.iterdir():
            if old.suffix in (".eml", ".html") and old.is_file():
                old.unlink()
        moto_patches.observe_sent_mail(self.receive)

    def stop(self) -> None:
        from reawake_tools.local import moto_patches

        moto_patches.observe_sent_mail(None)

    def receive(self, raw: str) -> None:
        self.write(raw)

    def write(self, raw: str) -> Path:
        message = parse(raw)
        moment = datetime.fromtimestamp(self.now_ms() / 1000, self.tz)
        to = parseaddr(str(message.get("To", "")))[1] or "unknown"
        stem = f"{moment:%Y%m%d-%H%M%S}.{moment.microsecond // 1000:03d}-{_safe(to, 60)}-" \
               f"{_safe(str(message.get('Subject', '')), 40)}"
        with self._lock:
            path = self.directory / f"{stem}.eml"
            count = 1
            while path.exists():
                count += 1
                path = self.directory / f"{stem}-{count}.eml"
            path.write_bytes(raw.encode("ascii", "replace"))
            path.with_suffix(".html").write_text(part(message, "html"), encoding="utf-8")
        return path


@dataclass(frozen=True)
class OutboxMail:
    path: Path
    sent_at: datetime | None
    to: str
    from_: str
    subject: str
    message_id: str  # X-Reawake-Message: <sequence>:<step index>:<lead>:<enrolled at>

    @property
    def html_path(self) -> Path:
        return self.path.with_suffix(".html")

    @property
    def sequence_step(self) -> str:
        parts = self.message_id.split(":")
        if len(parts) == 4 and parts[1].isdigit():
            return f"{parts[0]} #{int(parts[1]) + 1}"
        return self.message_id or "-"

    def message(self) -> EmailMessage:
        return parse(self.path.read_bytes())


def read_mail(path: Path) -> OutboxMail:
    message = parse(path.read_bytes())
    try:
        sent_at: datetime | None = parsedate_to_datetime(str(message["Date"])) if message["Date"] else None
    except (TypeError, ValueError):
        sent_at = None
    return OutboxMail(path, sent_at, str(message.get("To", "")), str(message.get("From", "")),
                      str(message.get("Subject", "")), str(message.get("X-Reawake-Message", "")))


def list_outbox(directory: Path) -> list[OutboxMail]:
    """The outbox's mails, oldest first (file names start with the stack time)."""
    if not directory.is_dir():
        return []
    return [read_mail(p) for p in sorted(directory.glob("*.eml"))]
