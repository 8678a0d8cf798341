"""`reawake templates check|upload|preview`: the marketer's tools for step-mail templates.

check reads the folders only; upload checks everything, then puts the templates and the mail
config into the stack's config bucket; preview renders one template for one lead (from the
running local stack, or a deployed one) or for a made-up lead (--sample), and writes an .html
to open in a browser and an .eml to open in a mail program.
"""

from __future__ import annotations

import argparse
import os
import sys
import time
import uuid
from pathlib import Path
from typing import Any

from reawake_tools.commands import Stop, connect, guarded, stack_output

DEFAULT_DIR = Path("templates")
DEFAULT_CONFIG = Path("config")
DEFAULT_OUT = Path(".local/preview")
SAMPLE_API_URL = "https://api.example.invalid"
SAMPLE_KEY = b"preview-only: links in a --sample preview are not valid anywhere"

EPILOG = """\
テンプレートは templates/NAME.html.j2 と templates/NAME.txt.j2 の 2 ファイル。HTML の先頭に
--- で囲んだ front matter (subject: 件名, preheader:, from:, reply_to:) を書きます。
使える変数: lead (name, company, email, attrs.列名, registered_at), owner (name, email, phone, title),
sender (company, name, address, contact_email, contact_url, phone), sequence (name, step), today。
配信停止リンクと送信者情報のフッター (特定電子メール法) は自動で付きます。"""


def register(subparsers: Any) -> None:
    parser = subparsers.add_parser(
        "templates",
        help="step-mail templates: check, upload to the stack, preview for a lead",
        description="ステップメールのテンプレートの検証・アップロード・プレビュー.",
        epilog=EPILOG,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    actions = parser.add_subparsers(dest="action", required=True, metavar="ACTION")

    check = actions.add_parser(
        "check",
        help="check templates: front matter, syntax, sandbox, variables, links (no stack needed)",
        description="テンプレートを検証します (front matter、構文、サンドボックス、変数、リンク)。",
        epilog="exit status: 0 = all fine, 1 = problems found (listed on stderr).",
    )
    check.add_argument("names", nargs="*", metavar="NAME", help="templates to check (default: all)")
    _folders(check)
    check.set_defaults(func=run_check)

    upload = actions.add_parser(
        "upload",
        help="check every template and config/mail.yaml, then upload them to the config bucket",
        description=("すべてのテンプレートと config/mail.yaml・owners.yaml を検証し、問題がなければ設定バケットの "
                     "templates/ と config/ にアップロードします (1 つでも問題があれば何もアップロードしません)。"),
        epilog="exit status: 0 = uploaded, 1 = problems found (nothing uploaded), 2 = no stack.",
    )
    _folders(upload)
    upload.add_argument("--stack", metavar="NAME", help="a deployed stack's name (default: the running local stack)")
    upload.set_defaults(func=run_upload)

    preview = actions.add_parser(
        "preview",
        help="render a template for a lead; write NAME.html and NAME.eml",
        description=("テンプレートをリード 1 件分レンダリングし、ブラウザで開ける NAME.html とメールソフトで開ける "
                     "NAME.eml を書き出します (送信はしません)。リンクは計測 URL に置き換わり、"
                     "ローカルスタックではそのままクリックできます。"),
        epilog=("exit status: 0 = written, 1 = the template has problems, 2 = unknown template or lead, bad arguments "
                "or no stack."),
    )
    preview.add_argument("name", metavar="NAME")
    who = preview.add_mutually_exclusive_group(required=True)
    who.add_argument("--lead", metavar="EMAIL", help="the lead's email address (read from the stack)")
    who.add_argument("--sample", action="store_true", help="a made-up lead, no stack needed")
    preview.add_argument("--out", type=Path, default=DEFAULT_OUT, metavar="DIR", help=f"default: {DEFAULT_OUT}")
    preview.add_argument("--stack", metavar="NAME", help="a deployed stack's name (default: the running local stack)")
    _folders(preview)
    preview.set_defaults(func=run_preview)


def _folders(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--dir", type=Path, default=DEFAULT_DIR, metavar="DIR",
                        help=f"the templates folder (default: {DEFAULT_DIR})")
    parser.add_argument("--config", type=Path, default=DEFAULT_CONFIG, metavar="DIR",
                        help=f"the folder with mail.yaml and owners.yaml (default: {DEFAULT_CONFIG})")


def _store(args: argparse.Namespace) -> Any:
    from reawake.mail.templates import DirectoryTemplateStore

    return DirectoryTemplateStore(args.dir, args.config)


def _print_problems(problems: dict[str, list[str]]) -> int:
    count = sum(len(v) for v in problems.values())
    for found in problems.values():
        for problem in found:
            print(problem, file=sys.stderr)
    print(f"{count} problem{'s' if count != 1 else ''} found", file=sys.stderr)
    return 1


def run_check(args: argparse.Namespace) -> int:
    from reawake.mail.templates import check_all, check_template

    store = _store(args)
    if args.names:
        problems = {n: found for n in args.names if (found := check_template(n, store))}
        names = list(args.names)
    else:
        problems = check_all(store)
        names = store.list_names()
    if problems:
        return _print_problems(problems)
    for name in names:
        print(f"  {name}  {store.source(name).front.subject}")
    print(f"{args.dir}: {len(names)} template{'s' if len(names) != 1 else ''} OK")
    return 0


def _connect(stack: str | None) -> dict[str, Any]:
    info = connect(stack)
    if stack is None and info.get("site_url"):
        from reawake.mail.links import REBASE_ENV, local_rebase

        # The sample templates link to the production site; the local stack serves it on loopback.
        os.environ.setdefault(REBASE_ENV, local_rebase(str(info["site_url"])))
        from reawake.core.settings import get_settings

        get_settings.cache_clear()
    return info


@guarded
def run_upload(args: argparse.Namespace) -> int:
    from reawake.core.aws import client
    from reawake.core.settings import get_settings
    from reawake.mail.templates import TemplateProblem, upload_templates

    _connect(args.stack)
    bucket = get_settings().config_bucket
    try:
        keys = upload_templates(client("s3"), bucket, _store(args))
    except TemplateProblem as exc:
        print("\n".join(exc.problems), file=sys.stderr)
        print(f"{len(exc.problems)} problem(s) found: nothing uploaded / 問題があるためアップロードしませんでした",
              file=sys.stderr)
        return 1
    for key in keys:
        print(f"  s3://{bucket}/{key}")
    print(f"{len(keys)} files uploaded / アップロードしました")
    return 0


@guarded
def run_preview(args: argparse.Namespace) -> int:
    from reawake.core.normalize import normalize_email
    from reawake.core.settings import Locale, get_settings
    from reawake.mail.context import SAMPLE_LEAD, build_context
    from reawake.mail.links import LinkPolicy, LinkSigner
    from reawake.mail.mime import build_message
    from reawake.mail.render import render_email
    from reawake.mail.templates import TemplateProblem, check_template

    store = _store(args)
    if args.name not in store.list_names():
        known = ", ".join(store.list_names()) or "none"
        raise Stop(f"no template {args.name!r} in {args.dir} (templates: {known})")
    if args.sample:
        lead, key, api_url, now_ms = SAMPLE_LEAD, SAMPLE_KEY, SAMPLE_API_URL, int(time.time() * 1000)
    else:
        try:
            email = normalize_email(args.lead)
        except ValueError:
            raise Stop(f"--lead: {args.lead!r} is not an email address") from None
        info = _connect(args.stack)
        from reawake.core.aws import secret_json
        from reawake.core.store import Store
        from reawake_tools.local.clock import now_of

        settings = get_settings()
        found = Store(settings.table_name).lead_by_email(email)
        if found is None:
            raise Stop(f"no lead with the address {args.lead} / このメールアドレスのリードはありません")
        lead = found
        key = str(secret_json(settings.signing_secret_arn)["signing_key"]).encode("utf-8")
        api_url = str(info["api_url"]) if args.stack is None else stack_output(args.stack, "ApiUrl")
        now_ms = int(now_of(info).timestamp() * 1000) if args.stack is None else int(time.time() * 1000)
    problems = check_template(args.name, store)
    if problems:
        return _print_problems({args.name: problems})
    try:
        mail = store.mail_config()
    except ValueError as exc:
        raise Stop(str(exc)) from exc
    if mail is None:
        raise Stop(f"{args.config / 'mail.yaml'}: missing (the sender identity)")
    # Only the locale: a --sample preview has no stack, so no function settings (TABLE_NAME, ...).
    time_zone = get_settings(Locale).time_zone
    context = build_context(lead, store.owners(), mail.sender, "preview", args.name, now_ms, time_zone)
    message_id = f"preview:{args.name}:{uuid.uuid4().hex[:12]}"
    signer = LinkSigner(api_url, key, lead.lead_id, message_id, now_ms, LinkPolicy.current(mail))
    try:
        rendered = render_email(args.name, context, store, signer, mail)
    except TemplateProblem as exc:
        return _print_problems({args.name: exc.problems})
    raw = build_message(rendered, _to(lead.name, lead.email), now_ms=now_ms, tz=time_zone)
    args.out.mkdir(parents=True, exist_ok=True)
    html_path, eml_path = args.out / f"{args.name}.html", args.out / f"{args.name}.eml"
    html_path.write_text(rendered.html, encoding="utf-8")
    eml_path.write_bytes(raw)
    print(f"件名 / subject: {rendered.subject}")
    print(f"差出人 / from:  {rendered.from_addr}")
    print(f"宛先 / to:      {lead.email}")
    print(f"tracked links:  {len(rendered.links)}")
    if args.sample:
        print("note: a --sample preview's links are not valid anywhere (no stack, no key)")
    print(html_path.resolve())
    print(eml_path.resolve())
    return 0


def _to(name: str | None, email: str) -> str:
    from reawake.mail.render import format_addr

    return format_addr(f"{name} 様" if name else "", email)
