"""No raw email address in any log line, tracebacks included (issue 9, "logs")."""

from __future__ import annotations

import io
import logging

from reawake.core.logs import RedactingFormatter, function_logger, redact

EMAIL = "yamada.taro+news@example.co.jp"


def test_the_local_part_is_masked_and_the_domain_kept() -> None:
    assert redact(f"bounce for {EMAIL} (Permanent)") == "bounce for ***@example.co.jp (Permanent)"
    assert redact("lead abc123 at https://www.example.co.jp/a@b") == "lead abc123 at https://www.example.co.jp/a@b"
    assert redact("no address here: 100% @ noon") == "no address here: 100% @ noon"


def failing() -> None:
    raise ValueError(f"cannot mail {EMAIL}")


def test_a_traceback_through_the_local_stack_formatter_is_masked() -> None:
    stream = io.StringIO()
    handler = logging.StreamHandler(stream)
    handler.setFormatter(RedactingFormatter("%(message)s"))
    log = logging.getLogger("test_logs.local")
    log.addHandler(handler)
    log.propagate = False
    try:
        failing()
    except ValueError:
        log.exception("TrackFunction failed for %s", EMAIL)
    out = stream.getvalue()
    assert "Traceback (most recent call last):" in out and "ValueError: cannot mail ***@example.co.jp" in out
    assert "yamada.taro" not in out


def test_a_function_logger_line_with_an_exception_is_masked() -> None:
    stream = io.StringIO()
    logger = function_logger()
    handler = logger.registered_handler
    previous = handler.setStream(stream)  # type: ignore[attr-defined]
    try:
        try:
            failing()
        except ValueError:
            logger.exception("send failed", extra={"to": EMAIL})
    finally:
        handler.setStream(previous)  # type: ignore[attr-defined]
    out = stream.getvalue()
    assert '"message":"send failed"' in out and "ValueError: cannot mail ***@example.co.jp" in out  # control
    assert '"to":"***@example.co.jp"' in out
    assert "yamada.taro" not in out
