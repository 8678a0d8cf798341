"""The step-mail function's actions on the emulator (moto in-process): what a lead receives, when it
stops, and that nothing is ever sent twice.

The state machine's tasks are called the way it calls them (``plan``, then ``send`` once the
wait is over); the clock the handlers read (``reawake.clock``) is moved by hand.
"""

from __future__ import annotations

import dataclasses
import itertools
import os
from collections.abc import Iterator
from datetime import datetime
from email.message import EmailMessage
from email.utils import parseaddr
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import boto3
import pytest
from botocore.exceptions import ClientError
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from reawake import clock, stepmail_api, tracking
from reawake.enrollment import ENROLLED, SKIPPED, Throttled, enroll
from reawake.events import Event
from reawake.leads import Lead
from reawake.local.outbox import parse
from reawake.local.template import function_environment, load_template
from reawake.settings import get_settings
from reawake.stepmail_store import StepmailStore
from reawake.store import Store
from tests.conftest import SITE

ROOT = Path(__file__).resolve().parents[2]
TOKYO = ZoneInfo("Asia/Tokyo")
MONDAY_9 = int(datetime(2026, 11, 30, 9, 0, tzinfo=TOKYO).timestamp() * 1000)  # a Monday, before the window
DAY = 86_400_000
SEGMENT = "dormant-no-webinar"
WEBINAR = "webinar-invite"
_emails = itertools.count()


class Now:
    def __init__(self, ms: int) -> None:
        self.ms = ms

    def __call__(self) -> int:
        return self.ms

    def at_least(self, iso: str) -> None:
        self.ms = max(self.ms, int(datetime.fromisoformat(iso.replace("Z", "+00:00")).timestamp() * 1000))


class Starts:
    """A Starter that records executions (their name is unique, as in Step Functions)."""

    def __init__(self) -> None:
        self.names: list[str] = []

    def start(self, name: str, payload: dict[str, Any]) -> bool:
        if name in self.names:
            return False
        self.names.append(name)
        return True


@pytest.fixture
def env(aws: Any, monkeypatch: pytest.MonkeyPatch) -> Iterator[Now]:
    """The step-mail function's environment, the mail config, templates and sequences uploaded,
    the sender verified, and a hand-moved clock."""
    from reawake.local.connect import reset_caches
    from reawake.mail.templates import DirectoryTemplateStore, upload_templates
    from reawake.stepmail_store import upload_sequences

    for k, v in function_environment(load_template(), aws, "StepmailFunction").items():
        monkeypatch.setenv(k, v)
    monkeypatch.setenv("PUBLIC_API_URL", "https://api.example.test")
    monkeypatch.delenv("LINK_REBASE", raising=False)  # a shared local stack's, when one is up
    reset_caches()
    s3 = boto3.client("s3")
    bucket = os.environ["CONFIG_BUCKET"]
    from reawake.config_store import upload_config

    upload_config(s3, bucket, ROOT / "config")
    upload_templates(s3, bucket, DirectoryTemplateStore(ROOT / "templates", ROOT / "config"))
    upload_sequences(s3, bucket, ROOT / "config" / "sequences", ROOT / "config" / "stepmail.yaml",
                     ROOT / "config" / "scoring.yaml")
    boto3.client("sesv2").create_email_identity(EmailIdentity="info@example.co.jp")
    now = Now(MONDAY_9)
    clock.set_source(now)
    yield now
    clock.set_source(None)
    reset_caches()


def store() -> Store:
    return Store(get_settings().table_name)


def sent_messages(to: str | None = None) -> list[EmailMessage]:
    from moto.core import DEFAULT_ACCOUNT_ID
    from moto.ses.models import ses_backends

    backend = ses_backends[DEFAULT_ACCOUNT_ID]["ap-northeast-1"]
    found = [parse(m.raw_data) for m in backend.sent_messages if hasattr(m, "raw_data")]
    return [m for m in found if to is None or parseaddr(str(m["To"]))[1] == to]


def new_lead(now: Now, **changes: Any) -> Lead:
    email = f"lead{next(_emails)}@example.co.jp"
    fields: dict[str, Any] = {"registered_at": now.ms - 400 * DAY, "name": "山田 太郎",
                              "company": "株式会社さくら精機", "owner": "sato.kenji@example.co.jp",
                              "segments": {SEGMENT: now.ms}, "dormant_since": now.ms, **changes}
    lead = Lead(lead_id=store().claim_lead_id(email), email=email, **fields)
    store().save_lead(lead, None)
    found = store().get_lead(lead.lead_id)
    assert found is not None
    return found


def enrolled(lead: Lead, now: Now, sequence: str = WEBINAR, starts: Starts | None = None) -> dict[str, Any]:
    stepmail = StepmailStore(store())
    outcome = enroll(stepmail, starts or Starts(), stepmail_api.sequence_config().sequences(), lead, sequence,
                     SEGMENT, now.ms, now.ms)
    assert outcome.status == ENROLLED, outcome
    return {"lead_id": lead.lead_id, "sequence": sequence, "enrolled_at": now.ms}


def call(action: str, payload: dict[str, Any]) -> dict[str, Any]:
    return stepmail_api.handle({"action": action, "input": payload})


def run_until(payload: dict[str, Any], now: Now, until_ms: int | None = None) -> dict[str, Any]:
    """The state machine's loop: wait for each slot, then send-and-plan; stops at the end, or at
    a wait past ``until_ms``."""
    result = call("plan", payload)
    while result["action"] == "wait":
        target = int(datetime.fromisoformat(result["wait_until"].replace("Z", "+00:00")).timestamp() * 1000)
        if until_ms is not None and target > until_ms:
            return result
        now.at_least(result["wait_until"])
        result = call("send", result)
    return result


def record(lead_id: str, kind: str, ts: int, **fields: Any) -> None:
    event = Event(id=f"t{kind}{ts}{lead_id}"[:60], kind=kind, ts=ts, source="activity", lead_id=lead_id, **fields)
    tracking.record(store(), get_settings(), [event], ts, None)


def enrollment_status(lead_id: str, sequence: str = WEBINAR) -> str:
    found = StepmailStore(store()).get_enrollment(lead_id, sequence)
    assert found is not None
    return found.status


def window_ok(message: EmailMessage) -> bool:
    from email.utils import parsedate_to_datetime

    local = parsedate_to_datetime(str(message["Date"])).astimezone(TOKYO)
    return local.weekday() < 5 and 10 <= local.hour < 18


# --- the sequence as a lead receives it -----------------------------------------------------------


def test_the_three_mails_arrive_in_order_inside_the_window_when_the_first_is_opened(env: Now) -> None:
    lead = new_lead(env)
    payload = enrolled(lead, env)

    first = run_until(payload, env, until_ms=env.ms + DAY)
    assert len(sent_messages(lead.email)) == 1
    record(lead.lead_id, "email_open", env.ms + 3_600_000, props={"campaign": WEBINAR})
    result = _continue(first, env)

    mails = sent_messages(lead.email)
    assert len(mails) == 3 and result["action"] == "done"
    assert all(window_ok(m) for m in mails)
    assert all(m["List-Unsubscribe-Post"] == "List-Unsubscribe=One-Click" for m in mails)
    subjects = [str(m["Subject"]) for m in mails]
    assert [s.split("】")[0] for s in subjects] == ["【お役立ち資料", "【導入事例", "【参加無料・オンライン"]
    ids = [str(m["X-Reawake-Message"]) for m in mails]
    assert [i.split(":")[1] for i in ids] == ["0", "1", "2"]
    assert enrollment_status(lead.lead_id) == "done"


def _continue(result: dict[str, Any], now: Now) -> dict[str, Any]:
    while result["action"] == "wait":
        now.at_least(result["wait_until"])
        result = call("send", result)
    return result


def test_without_an_open_the_case_study_is_skipped_and_the_invitation_still_goes(env: Now) -> None:
    lead = new_lead(env)
    result = run_until(enrolled(lead, env), env)
    assert result["action"] == "done"
    steps = [m["X-Reawake-Message"].split(":")[1] for m in sent_messages(lead.email)]
    assert steps == ["0", "2"]


# --- every exit ends the sequence before the next send ---------------------------------------------


def _exit_by(kind: str, lead: Lead, at: int) -> None:
    settings = get_settings()
    if kind == "revisit":
        record(lead.lead_id, "page_view", at, url=f"{SITE}/products/")
    elif kind == "conversion":
        record(lead.lead_id, "webinar_application", at)
    elif kind == "unsubscribe":
        assert tracking.unsubscribe(store(), settings, lead.lead_id, at, via="link")
    elif kind in ("bounce", "complaint"):
        event = Event(id=f"f{kind}{at}", kind=f"email_{kind}", ts=at, source="ses", lead_id=lead.lead_id)
        assert tracking.suppress(store(), settings, lead.lead_id, event, kind, at)
    elif kind == "segment_left":
        current = store().get_lead(lead.lead_id)
        assert current is not None
        store().save_lead(dataclasses.replace(current, segments={}), current.version)


@pytest.mark.parametrize("kind", ["revisit", "conversion", "unsubscribe", "bounce", "complaint", "segment_left"])
def test_every_exit_ends_the_enrollment_before_the_next_send(env: Now, kind: str) -> None:
    lead = new_lead(env)
    payload = enrolled(lead, env)
    waiting = run_until(payload, env, until_ms=env.ms + DAY)  # the first mail went; the next waits
    assert waiting["action"] == "wait" and len(sent_messages(lead.email)) == 1

    _exit_by(kind, lead, env.ms + 60_000)
    env.ms += 60_000
    result = _continue(waiting, env)

    assert len(sent_messages(lead.email)) == 1, "nothing after the exit"
    assert result["action"] == "exit"
    expected = {"revisit": "revisit", "conversion": "conversion", "unsubscribe": "unsubscribed",
                "bounce": "bounce", "complaint": "complaint", "segment_left": "segment_left"}[kind]
    assert result["reason"] == expected
    assert enrollment_status(lead.lead_id) == "exited"


def test_a_suppressed_lead_is_not_enrolled_and_a_second_enrollment_is_refused(env: Now) -> None:
    stepmail, sequences = StepmailStore(store()), stepmail_api.sequence_config().sequences()
    bounced = new_lead(env, suppressed="bounce")
    outcome = enroll(stepmail, Starts(), sequences, bounced, WEBINAR, SEGMENT, env.ms, env.ms)
    assert outcome.status == SKIPPED and outcome.reason == "bounce"

    lead, starts = new_lead(env), Starts()
    first = enroll(stepmail, starts, sequences, lead, WEBINAR, SEGMENT, env.ms, env.ms)
    again = enroll(stepmail, starts, sequences, lead, WEBINAR, SEGMENT, env.ms, env.ms)  # a retried dispatch
    other = enroll(stepmail, starts, sequences, lead, WEBINAR, None, env.ms + 5, env.ms + 5)  # `sequences start`
    unknown = enroll(stepmail, starts, sequences, lead, "no-such", SEGMENT, env.ms, env.ms)
    assert first.status == again.status == ENROLLED
    assert other.status == SKIPPED and "already in the sequence" in (other.reason or "")
    assert unknown.status == SKIPPED and "unknown sequence" in (unknown.reason or "")
    assert starts.names == [first.execution_name], "one execution, under its deterministic name"
    assert first.execution_name == f"{WEBINAR}-{lead.lead_id}-{env.ms}"


# --- never twice -------------------------------------------------------------------------------------


def test_a_replayed_send_sends_nothing_twice(env: Now) -> None:
    lead = new_lead(env)
    plan = call("plan", enrolled(lead, env))
    env.at_least(plan["wait_until"])
    first = call("send", plan)
    replay = call("send", plan)  # the Lambda (or the state machine) retried the same task
    assert len(sent_messages(lead.email)) == 1
    assert first["action"] == replay["action"] == "wait" and first["step"] == replay["step"] == 1


def test_a_crash_after_the_send_does_not_send_again(env: Now, monkeypatch: pytest.MonkeyPatch) -> None:
    lead = new_lead(env)
    plan = call("plan", enrolled(lead, env))
    env.at_least(plan["wait_until"])
    store_ = stepmail_api.store()
    original = store_.save_progress
    monkeypatch.setattr(store_, "save_progress", lambda *a, **k: (_ for _ in ()).throw(RuntimeError("crash")))
    with pytest.raises(RuntimeError):
        call("send", plan)
    monkeypatch.setattr(store_, "save_progress", original)
    result = call("send", plan)
    assert len(sent_messages(lead.email)) == 1
    assert result["action"] == "wait" and result["step"] == 1


def test_ses_throttling_releases_the_claim_and_the_retry_sends_once(env: Now,
                                                                    monkeypatch: pytest.MonkeyPatch) -> None:
    lead = new_lead(env)
    plan = call("plan", enrolled(lead, env))
    env.at_least(plan["wait_until"])
    mailer = stepmail_api.engine().mailer
    client = mailer.client  # type: ignore[attr-defined]
    error = {"Error": {"Code": "TooManyRequestsException", "Message": "Maximum sending rate exceeded."},
             "ResponseMetadata": {"HTTPStatusCode": 429}}
    monkeypatch.setattr(client, "send_email", lambda **kw: (_ for _ in ()).throw(ClientError(error, "SendEmail")))
    with pytest.raises(Throttled):
        call("send", plan)
    message_id = f"{WEBINAR}:0:{lead.lead_id}:{plan['enrolled_at']}"
    assert StepmailStore(store()).get_claim(lead.lead_id, message_id) is None, "the claim is released"
    current = store().get_lead(lead.lead_id)
    assert current is not None and message_id not in current.mail_log
    monkeypatch.undo()
    monkeypatch.setenv("PUBLIC_API_URL", "https://api.example.test")
    result = call("send", plan)
    assert len(sent_messages(lead.email)) == 1 and result["step"] == 1
    claim = StepmailStore(store()).get_claim(lead.lead_id, message_id)
    assert claim is not None and claim.status == "sent" and claim.ses_message_id


def test_the_frequency_cap_defers_a_third_mail_across_sequences(env: Now) -> None:
    lead = new_lead(env)
    for sequence in ("webinar-invite", "win-back"):
        plan = call("plan", enrolled(lead, env, sequence))
        env.at_least(plan["wait_until"])
        call("send", plan)
    third = call("plan", enrolled(lead, env, "repurchase"))
    replay = call("send", third)  # even if the state machine called send early, the cap holds
    assert len(sent_messages(lead.email)) == 2, "max 2 per 7 days, all sequences together"
    assert third["action"] == replay["action"] == "wait" and third["step"] == 0
    log = store().get_lead(lead.lead_id).mail_log  # type: ignore[union-attr]
    assert len(log) == 2
    deferred = int(datetime.fromisoformat(third["wait_until"].replace("Z", "+00:00")).timestamp() * 1000)
    assert deferred >= min(log.values()) + 7 * DAY
    env.at_least(third["wait_until"])
    call("send", third)
    assert len(sent_messages(lead.email)) == 3, "deferred, never dropped"


# --- a property: an unsubscribed or bounced lead is never mailed after that moment ----------------------

ACTIONS = st.lists(st.sampled_from(["wait", "wait", "unsubscribe", "bounce", "complaint", "click", "page_view",
                                    "open", "replay"]), min_size=1, max_size=12)


@settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(actions=ACTIONS)
def test_no_mail_after_an_unsubscribe_bounce_or_complaint_and_none_twice(env: Now, actions: list[str]) -> None:
    lead = new_lead(env)
    payload = enrolled(lead, env)
    result = call("plan", payload)
    stopped_at: int | None = None
    last: dict[str, Any] = result
    for action in actions:
        if result["action"] != "wait":
            break
        if action == "wait":
            env.at_least(result["wait_until"])
            last, result = result, call("send", result)
        elif action == "replay":
            call("send", last) if last["action"] == "wait" else None
        elif action in ("unsubscribe", "bounce", "complaint"):
            env.ms += 1000
            _exit_by(action, lead, env.ms)
            stopped_at = env.ms if stopped_at is None else stopped_at
        else:
            env.ms += 1000
            kind = {"click": "email_click", "page_view": "page_view", "open": "email_open"}[action]
            record(lead.lead_id, kind, env.ms, url=f"{SITE}/", props={"campaign": WEBINAR})
    mails = sent_messages(lead.email)
    ids = [str(m["X-Reawake-Message"]) for m in mails]
    assert len(ids) == len(set(ids)), "a message id is sent at most once"
    if stopped_at is not None:
        from email.utils import parsedate_to_datetime

        late = [m for m in mails if parsedate_to_datetime(str(m["Date"])).timestamp() * 1000 >= stopped_at]
        assert not late, f"mailed after the stop: {[m['X-Reawake-Message'] for m in late]}"
