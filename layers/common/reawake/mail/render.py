"""One lead's mail from a template: render, track the links, add what every marketing mail must
carry (the preheader, the 特定電子メール法 footer with the opt-out link, the open pixel).

The footer is added here, not in templates, so a marketer cannot forget it."""

from __future__ import annotations

import html as htmllib
import re
from dataclasses import dataclass
from email.utils import parseaddr
from typing import Any

from reawake.core.normalize import normalize_email
from reawake.mail.config import MailConfig, Sender
from reawake.mail.links import (
    LinkReport,
    LinkSigner,
    insert_after_body_start,
    insert_before_body_end,
    pixel_tag,
    rewrite_html,
    rewrite_text,
)
from reawake.mail.templates import AnyTemplateStore, CompiledTemplate, TemplateProblem

_SPACE = re.compile(r"\s+")
# Zero-width fillers after the preheader keep the inbox preview from running on into the body.
_PREHEADER_FILL = "&#847;&zwnj;&nbsp;" * 40


@dataclass(frozen=True)
class RenderedEmail:
    subject: str
    from_addr: str  # "表示名 <address>" (unencoded; mime.py encodes)
    preheader: str
    html: str
    text: str
    reply_to: str | None = None
    message_id: str = ""
    unsubscribe_url: str = ""
    unsubscribe_mailto: str | None = None
    links: tuple[str, ...] = ()  # the tracked targets, in order of appearance (HTML, then text)
    untracked_links: tuple[str, ...] = ()  # kept as written: refused by policy (logged by the sender)


@dataclass(frozen=True)
class Parts:
    subject: str
    from_name: str
    from_address: str
    reply_to: str | None
    preheader: str
    html: str
    text: str


def one_line(text: str) -> str:
    """Header text: whitespace (line breaks included, so no header injection) collapsed."""
    return _SPACE.sub(" ", text).strip()


def format_addr(name: str, address: str) -> str:
    if not name:
        return address
    if re.search(r'[()<>@,;:\\".\[\]]', name):
        escaped = name.replace("\\", "\\\\").replace('"', '\\"')
        return f'"{escaped}" <{address}>'
    return f"{name} <{address}>"


def _address(value: str, what: str) -> tuple[str, str]:
    """("name", "addr") from "name <addr>", or (value, "") when it is a display name only."""
    if "<" in value or "@" in value:
        name, address = parseaddr(value)
        try:
            return one_line(name), normalize_email(address)
        except ValueError:
            raise TemplateProblem([f"{what}: {value!r} has no valid email address"]) from None
    return one_line(value), ""


def render_parts(compiled: CompiledTemplate, context: dict[str, Any], mail: MailConfig) -> Parts:
    """The template rendered for one context, links untouched. Raises Jinja's errors
    (SecurityError, UndefinedError) or TemplateProblem for an empty subject or a bad address."""
    sender: Sender = mail.sender
    subject = one_line(compiled.subject.render(context))
    if not subject:
        raise TemplateProblem([f"{compiled.source.html_file}: the subject renders empty"])
    from_name, from_address = sender.from_name, sender.from_address
    if compiled.from_ is not None:
        name, address = _address(compiled.from_.render(context), "from")
        from_name, from_address = name or from_name, address or from_address
    reply_to = None
    if compiled.reply_to is not None:
        rendered = one_line(compiled.reply_to.render(context))
        if rendered:
            name, address = _address(rendered, "reply_to")
            if not address:
                raise TemplateProblem([f"reply_to: {rendered!r} is not an email address"])
            reply_to = format_addr(name, address)
    preheader = one_line(compiled.preheader.render(context)) if compiled.preheader is not None else ""
    return Parts(subject, from_name, from_address, reply_to, preheader,
                 compiled.html.render(context), compiled.text.render(context))


def footer_html(mail: MailConfig, unsubscribe_url: str) -> str:
    s = mail.sender
    e = htmllib.escape
    contact = f'<a href="mailto:{e(s.contact_email)}" style="color:#666666">{e(s.contact_email)}</a>'
    if s.contact_url:
        contact += f' ／ <a href="{e(s.contact_url)}" style="color:#666666">{e(s.contact_url)}</a>'
    if s.phone:
        contact += f" ／ TEL {e(s.phone)}"
    return (
        '\n<div class="reawake-footer" style="box-sizing:border-box;max-width:600px;margin:24px auto 0;'
        "padding:16px 20px;"
        "border-top:1px solid #dddddd;font-family:'Hiragino Sans','Hiragino Kaku Gothic ProN',Meiryo,sans-serif;"
        'font-size:12px;line-height:1.8;color:#666666;text-align:left">\n'
        f'<p style="margin:0 0 8px">{e(mail.footer_note)}</p>\n'
        '<p style="margin:0 0 8px">今後このようなご案内が不要な場合は、'
        f'<a href="{e(unsubscribe_url)}" style="color:#666666">配信停止のお手続き</a>'
        "をお願いいたします（以後のメール配信を停止します）。</p>\n"
        f'<p style="margin:0">送信者：{e(s.company)}<br>\n住所：{e(s.address)}<br>\n'
        f"お問い合わせ：{contact}</p>\n</div>\n"
    )


def footer_text(mail: MailConfig, unsubscribe_url: str) -> str:
    s = mail.sender
    contact = " / ".join(x for x in (s.contact_email, s.contact_url or "", f"TEL {s.phone}" if s.phone else "") if x)
    return (
        "\n\n――――――――――――――――――――――――――――――\n"
        f"{mail.footer_note}\n"
        "今後このようなご案内が不要な場合は、次のURLから配信停止のお手続きをお願いいたします。\n"
        f"{unsubscribe_url}\n"
        f"送信者：{s.company}\n"
        f"住所：{s.address}\n"
        f"お問い合わせ：{contact}\n"
    )


def preheader_html(preheader: str) -> str:
    return (
        '\n<div style="display:none;font-size:1px;color:#ffffff;line-height:1px;max-height:0;max-width:0;'
        f'opacity:0;overflow:hidden;mso-hide:all">{htmllib.escape(preheader)}{_PREHEADER_FILL}</div>\n'
    )


def render_email(
    name: str,
    context: dict[str, Any],
    store: AnyTemplateStore,
    link_signer: LinkSigner,
    mail: MailConfig | None = None,
) -> RenderedEmail:
    """The finished mail for one lead. mail: default the store's config/mail.yaml."""
    mail = mail or store.mail_config()
    if mail is None:
        raise TemplateProblem([f"no mail config ({store.describe('config/mail.yaml')}): upload it with "
                               "`reawake templates upload`"])
    parts = render_parts(store.get(name), context, mail)
    report = LinkReport()
    policy = link_signer.policy
    body_html = rewrite_html(parts.html, policy, link_signer, report)
    body_text = rewrite_text(parts.text, policy, link_signer, report)
    unsubscribe = link_signer.unsubscribe_url()
    if parts.preheader:
        body_html = insert_after_body_start(body_html, preheader_html(parts.preheader))
    body_html = insert_before_body_end(body_html, footer_html(mail, unsubscribe) + pixel_tag(link_signer.open_url()))
    body_text = body_text.rstrip() + footer_text(mail, unsubscribe)
    return RenderedEmail(
        subject=parts.subject,
        from_addr=format_addr(parts.from_name, parts.from_address),
        preheader=parts.preheader,
        html=body_html,
        text=body_text,
        reply_to=parts.reply_to,
        message_id=link_signer.message_id,
        unsubscribe_url=unsubscribe,
        unsubscribe_mailto=mail.unsubscribe_mailto,
        links=tuple(report.tracked),
        untracked_links=tuple(url for url, _ in report.refused),
    )
