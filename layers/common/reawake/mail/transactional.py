"""Transactional mail to our own people (a revisit alert to the salesperson), not marketing: the
templates ship inside the package (``reawake/static/NAME.html.j2`` + ``.txt.j2``, front matter as in
``templates/``), render in the same sandboxed, autoescaping environments, and get no tracked links,
no open pixel, no unsubscribe header and no 特定電子メール法 footer (they are not advertising)."""

from __future__ import annotations

from functools import cache
from importlib import resources
from typing import Any

from reawake.mail.config import MailConfig
from reawake.mail.links import insert_after_body_start
from reawake.mail.render import RenderedEmail, format_addr, preheader_html, render_parts
from reawake.mail.templates import (
    HTML_SUFFIX,
    NAME,
    TEXT_SUFFIX,
    CompiledTemplate,
    TemplateNotFound,
    TemplateSource,
    compile_source,
    split_front_matter,
)

PACKAGE_DIR = "static"


@cache
def builtin_template(name: str) -> CompiledTemplate:
    """A template shipped in the package, compiled once per process."""
    if not NAME.match(name):
        raise TemplateNotFound([f"{name!r} is not a template name"])
    folder = resources.files("reawake").joinpath(PACKAGE_DIR)
    html_file, text_file = folder.joinpath(name + HTML_SUFFIX), folder.joinpath(name + TEXT_SUFFIX)
    if not html_file.is_file() or not text_file.is_file():
        raise TemplateNotFound([f"no built-in template {name!r} (reawake/{PACKAGE_DIR}/{name}{HTML_SUFFIX} + "
                                f"{TEXT_SUFFIX})"])
    html_name, text_name = f"reawake/{PACKAGE_DIR}/{name}{HTML_SUFFIX}", f"reawake/{PACKAGE_DIR}/{name}{TEXT_SUFFIX}"
    front, front_text, body, offset = split_front_matter(html_file.read_text(encoding="utf-8"), html_name)
    source = TemplateSource(name, html_name, text_name, front, front_text, body, offset,
                            text_file.read_text(encoding="utf-8"))
    return compile_source(source)


def render_transactional(name: str, context: dict[str, Any], mail: MailConfig, message_id: str) -> RenderedEmail:
    """The mail, ready for ``build_message``. From: the template's ``from`` (a display name keeps the
    verified ``sender.from_address``); ``message_id`` seeds the Message-ID (a retry keeps it)."""
    parts = render_parts(builtin_template(name), context, mail)
    body_html = parts.html
    if parts.preheader:
        body_html = insert_after_body_start(body_html, preheader_html(parts.preheader))
    return RenderedEmail(
        subject=parts.subject,
        from_addr=format_addr(parts.from_name, parts.from_address),
        preheader=parts.preheader,
        html=body_html,
        text=parts.text,
        reply_to=parts.reply_to,
        message_id=message_id,
    )
