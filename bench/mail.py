"""Step-mail content per email: context + render + tracked links + footer + pixel + raw MIME, vs.
the Jinja2 render alone (subject, HTML and text of the same compiled template), same run.

One process, one thread: emails per second per core. Every email is for another lead, so every
token is signed anew (as in a real send); the compiled template is cached, as in a warm Lambda.
"""

from __future__ import annotations

import time
from pathlib import Path
from zoneinfo import ZoneInfo

from bench.common import median, report

ROOT = Path(__file__).resolve().parents[1]
TEMPLATES = ["case-study", "webinar-invitation", "dm-notice"]
EMAILS = 600  # per round and template
ROUNDS = 5
GOAL = 1000  # emails per second per core
NOW_MS = 1_795_402_800_000
SITE = "https://www.example.co.jp"


def run() -> dict[str, float]:
    from reawake.core.leads import Lead
    from reawake.mail.context import build_context
    from reawake.mail.links import LinkPolicy, LinkSigner
    from reawake.mail.mime import build_message
    from reawake.mail.render import render_email
    from reawake.mail.templates import DirectoryTemplateStore

    tz = ZoneInfo("Asia/Tokyo")
    store = DirectoryTemplateStore(ROOT / "templates", ROOT / "config")
    mail = store.mail_config()
    assert mail is not None
    owners = store.owners()
    policy = LinkPolicy((SITE,), frozenset(mail.untracked_link_hosts))
    key = b"bench-signing-key-0123456789abcdef"
    leads = [
        Lead(lead_id=f"lead{i:016d}", email=f"user{i}@example.jp", registered_at=1_767_657_600_000,
             name=f"山田 太郎{i}", company="株式会社さくら精機", owner="sato.kenji@example.co.jp",
             attrs={"業種": "製造業"})
        for i in range(EMAILS)
    ]
    contexts = [build_context(lead, owners, mail.sender, "bench", "1", NOW_MS, tz) for lead in leads]

    def jinja_only(name: str) -> None:
        compiled = store.get(name)
        for context in contexts:
            compiled.subject.render(context)
            compiled.html.render(context)
            compiled.text.render(context)

    size = 0

    def full(name: str) -> None:
        nonlocal size
        for lead in leads:
            context = build_context(lead, owners, mail.sender, "bench", "1", NOW_MS, tz)
            signer = LinkSigner("https://abc.execute-api.ap-northeast-1.amazonaws.com", key, lead.lead_id,
                                f"bench:1:{lead.lead_id}", NOW_MS, policy)
            rendered = render_email(name, context, store, signer, mail)
            size = len(build_message(rendered, lead.email, now_ms=NOW_MS, tz=tz))

    for name in TEMPLATES:  # warm up: compile, caches
        jinja_only(name)
        full(name)
    jinja_times: list[float] = []
    full_times: list[float] = []
    for _ in range(ROUNDS):
        for name in TEMPLATES:
            start = time.perf_counter()
            jinja_only(name)
            jinja_times.append((time.perf_counter() - start) / EMAILS)
            start = time.perf_counter()
            full(name)
            full_times.append((time.perf_counter() - start) / EMAILS)
    j, f = median(jinja_times), median(full_times)
    per_second = 1 / f
    report(
        "Step mail: render + links + footer + MIME per email vs. the Jinja2 render alone (same run, 1 core)",
        [
            ("templates", ", ".join(TEMPLATES)),
            ("emails", f"{EMAILS} per template and round, {ROUNDS} rounds (median of rounds)"),
            ("Jinja2 render alone", f"{j * 1e6:.0f} µs per email (subject, HTML, text)"),
            ("render + build MIME", f"{f * 1e6:.0f} µs per email ({size / 1024:.1f} KB message)"),
            ("ratio", f"{f / j:.2f}x"),
            ("emails per second per core", f"{per_second:,.0f} (goal >= {GOAL:,})"),
        ],
    )
    return {"jinja_us": j * 1e6, "full_us": f * 1e6, "ratio": f / j, "per_second": per_second}


if __name__ == "__main__":
    run()
