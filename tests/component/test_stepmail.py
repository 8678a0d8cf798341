"""Step mail by send slot on the emulator (moto in-process): what a lead receives, when it stops,
and that nothing is ever sent twice.

A send slot is played the way the send-slot state machine plays it: ``collect`` at the slot's
time, then ``batch`` for each batch of the manifest it wrote; the slots follow each other every
5 minutes, from the earliest enrollment due (``play``). The clock the handlers read
(``reawake.core.clock``) is moved by hand.
"""

from __future__ import annotations

import dataclasses
import itertools
import json
import os
from collections import Counter
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

from reawake.core import clock
from reawake.core.events import Event
from reawake.core.leads import Lead
from reawake.core.settings import get_settings
from reawake.core.store import Store
from reawake.stepmail import entry as stepmail_entry
from reawake.stepmail.enrollment import ENROLLED, SKIPPED, enroll
from reawake.stepmail.store import StepmailStore
from reawake.tracking import recording
from reawake_tools.local.outbox import parse
from reawake_tools.local.template import function_environment, load_template
from tests.conftest import SITE, LambdaContext, load_function

ROOT = Path(__file__).resolve().parents[2]
TOKYO = ZoneInfo("Asia/Tokyo")
MONDAY_9 = int(datetime(2026, 11, 30, 9, 0, tzinfo=TOKYO).timestamp() * 1000)  # a Monday, before the window
DAY = 86_400_000
SLOT_MS = 300_000
MONDAY_10 = int(datetime(2026, 11, 30, 10, 0, tzinfo=TOKYO).timestamp() * 1000)  # the window opens
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


@pytest.fixture
def env(aws: Any, monkeypatch: pytest.MonkeyPatch) -> Iterator[Now]:
    """The step-mail function's environment, the mail config, templates and sequences uploaded,
    the sender verified, and a hand-moved clock."""
    from reawake.mail.templates import DirectoryTemplateStore, upload_templates
    from reawake.stepmail.store import upload_sequences
    from reawake_tools.local.connect import reset_caches

    for k, v in function_environment(load_template(), aws, "StepmailFunction").items():
        monkeypatch.setenv(k, v)
    monkeypatch.setenv("PUBLIC_API_URL", "https://api.example.test")
    monkeypatch.delenv("LINK_REBASE", raising=False)  # a shared local stack's, when one is up
    reset_caches()
    s3 = boto3.client("s3")
    bucket = os.environ["CONFIG_BUCKET"]
    from reawake.segments.definitions import upload_config

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


def enrolled(lead: Lead, now: Now, sequence: str = WEBINAR, segment: str | None = SEGMENT) -> dict[str, Any]:
    stepmail = StepmailStore(store())
    config = stepmail_entry.sequence_config()
    outcome = enroll(stepmail, config.sequences(), lead, sequence, segment, now.ms, now.ms, config.settings())
    assert outcome.status == ENROLLED, outcome
    return {"lead_id": lead.lead_id, "sequence": sequence, "enrolled_at": now.ms}


def call(action: str, payload: dict[str, Any]) -> dict[str, Any]:
    """The state machine's task: the step-mail function's handler, under its own role."""
    global _app
    _app = _app or load_function("stepmail")
    result: dict[str, Any] = _app.handler({"action": action, "input": payload}, LambdaContext())
    return result


_app: Any = None


def iso(ms: int) -> str:
    return datetime.fromtimestamp(ms / 1000, TOKYO).isoformat()


def collected(now_ms: int) -> tuple[int, list[list[list[str]]]]:
    """A slot's ``collect``: its now and the batches of its manifest."""
    found = call("collect", {"now": iso(now_ms)})
    if not found["batches"]:
        return found["now"], []
    body = boto3.client("s3").get_object(Bucket=found["manifest"]["bucket"], Key=found["manifest"]["key"])["Body"]
    return found["now"], json.loads(body.read())


def run_batches(slot_now: int, batches: list[list[list[str]]]) -> Counter[str]:
    counts: Counter[str] = Counter()
    for batch in batches:
        counts.update(call("batch", {"now": slot_now, "enrollments": batch}))
    return counts


def slot(now: Now) -> Counter[str]:
    """One send slot at ``now``: collect, then every batch."""
    return run_batches(*collected(now.ms))


def next_slot(ms: int) -> int:
    """The first 5-minute slot at or after ``ms`` (the template's cron(0/5 * * * ? *))."""
    return -(-ms // SLOT_MS) * SLOT_MS


def play(now: Now, until_ms: int) -> Counter[str]:
    """Every slot with work, in order, up to ``until_ms`` (what the scheduler does on a jump)."""
    total: Counter[str] = Counter()
    stepmail = StepmailStore(store())
    last: int | None = None
    while (due := stepmail.earliest_due(until_ms)) is not None:
        moment = next_slot(due) if last is None else max(next_slot(due), last + SLOT_MS)
        if moment > until_ms:
            break
        now.ms = last = max(now.ms, moment)
        total.update(slot(now))
    now.ms = max(now.ms, until_ms)
    return total


def record(lead_id: str, kind: str, ts: int, **fields: Any) -> None:
    event = Event(id=f"t{kind}{ts}{lead_id}"[:60], kind=kind, ts=ts, source="activity", lead_id=lead_id, **fields)
    recording.record(store(), get_settings(), [event], ts, None)


def enrollment_status(lead_id: str, sequence: str = WEBINAR) -> str:
    found = StepmailStore(store()).get_enrollment(lead_id, sequence)
    assert found is not None
    return found.status


def window_ok(message: EmailMessage) -> bool:
    from email.utils import parsedate_to_datetime

    local = parsedate_to_datetime(str(message["Date"])).astimezone(TOKYO)
    return local.weekday() < 5 and 10 <= local.hour < 18




def sent_at(message: EmailMessage) -> int:
    from email.utils import parsedate_to_datetime

    return int(parsedate_to_datetime(str(message["Date"])).timestamp() * 1000)


def steps_of(email: str) -> list[str]:
    return [str(m["X-Reawake-Message"]).split(":")[1] for m in sent_messages(email)]


# --- the sequence as a lead receives it -----------------------------------------------------------


def test_the_three_mails_arrive_in_order_inside_the_window_when_the_first_is_opened(env: Now) -> None:
    lead = new_lead(env)
    enrolled(lead, env)

    play(env, env.ms + DAY)
    assert len(sent_messages(lead.email)) == 1
    record(lead.lead_id, "email_open", env.ms + 3_600_000, props={"campaign": WEBINAR})
    play(env, env.ms + 30 * DAY)

    mails = sent_messages(lead.email)
    assert len(mails) == 3 and enrollment_status(lead.lead_id) == "done"
    assert all(window_ok(m) for m in mails)
    assert all(m["List-Unsubscribe-Post"] == "List-Unsubscribe=One-Click" for m in mails)
    subjects = [str(m["Subject"]) for m in mails]
    assert [s.split("】")[0] for s in subjects] == ["【お役立ち資料", "【導入事例", "【参加無料・オンライン"]
    assert steps_of(lead.email) == ["0", "1", "2"]
    assert sent_at(mails[0]) == MONDAY_10  # the 10:00 slot


def test_without_an_open_the_case_study_is_skipped_and_the_invitation_still_goes(env: Now) -> None:
    lead = new_lead(env)
    enrolled(lead, env)
    play(env, env.ms + 30 * DAY)
    assert steps_of(lead.email) == ["0", "2"] and enrollment_status(lead.lead_id) == "done"


def test_enrolling_writes_the_first_due_time_and_no_execution(env: Now) -> None:
    lead = new_lead(env)
    enrolled(lead, env)
    enrollment = StepmailStore(store()).get_enrollment(lead.lead_id, WEBINAR)
    assert enrollment is not None and enrollment.due_at == MONDAY_10
    assert StepmailStore(store()).earliest_due(env.ms) is None, "not due before the window opens"
    assert not boto3.client("stepfunctions").list_state_machines()["stateMachines"]


# --- exits are taken at the next due check -------------------------------------------------------


def _exit_by(kind: str, lead: Lead, at: int) -> None:
    settings = get_settings()
    if kind == "revisit":
        record(lead.lead_id, "page_view", at, url=f"{SITE}/products/")
    elif kind == "conversion":
        record(lead.lead_id, "webinar_application", at)
    elif kind == "unsubscribe":
        assert recording.unsubscribe(store(), settings, lead.lead_id, at, via="link")
    elif kind in ("bounce", "complaint"):
        event = Event(id=f"f{kind}{at}", kind=f"email_{kind}", ts=at, source="ses", lead_id=lead.lead_id)
        assert recording.suppress(store(), settings, lead.lead_id, event, kind, at)
    elif kind == "segment_left":
        current = store().get_lead(lead.lead_id)
        assert current is not None
        store().save_lead(dataclasses.replace(current, segments={}), current.version)


@pytest.mark.parametrize("kind", ["revisit", "conversion", "unsubscribe", "bounce", "complaint", "segment_left"])
def test_every_exit_is_taken_at_the_next_due_check(env: Now, kind: str) -> None:
    lead = new_lead(env)
    enrolled(lead, env)
    play(env, env.ms + DAY)  # the first mail went; the last step waits (14 days after enrollment)
    assert len(sent_messages(lead.email)) == 1
    waiting = StepmailStore(store()).get_enrollment(lead.lead_id, WEBINAR)
    assert waiting is not None and waiting.status == "active" and waiting.due_at is not None

    _exit_by(kind, lead, env.ms + 60_000)
    env.ms += 60_000
    assert enrollment_status(lead.lead_id) == "active", "nothing happens before the due check"
    counts = play(env, waiting.due_at + DAY)

    assert len(sent_messages(lead.email)) == 1, "nothing after the exit"
    assert counts["exited"] == 1
    found = StepmailStore(store()).get_enrollment(lead.lead_id, WEBINAR)
    expected = {"revisit": "revisit", "conversion": "conversion", "unsubscribe": "unsubscribed",
                "bounce": "bounce", "complaint": "complaint", "segment_left": "segment_left"}[kind]
    assert found is not None and (found.status, found.reason, found.due_at) == ("exited", expected, None)


def test_a_suppressed_lead_is_not_enrolled_and_a_second_enrollment_is_refused(env: Now) -> None:
    stepmail, config = StepmailStore(store()), stepmail_entry.sequence_config()
    sequences, settings = config.sequences(), config.settings()
    bounced = new_lead(env, suppressed="bounce")
    outcome = enroll(stepmail, sequences, bounced, WEBINAR, SEGMENT, env.ms, env.ms, settings)
    assert outcome.status == SKIPPED and outcome.reason == "bounce"

    lead = new_lead(env)
    first = enroll(stepmail, sequences, lead, WEBINAR, SEGMENT, env.ms, env.ms, settings)
    again = enroll(stepmail, sequences, lead, WEBINAR, SEGMENT, env.ms, env.ms, settings)  # a retried dispatch
    other = enroll(stepmail, sequences, lead, WEBINAR, None, env.ms + 5, env.ms + 5, settings)  # `sequences start`
    unknown = enroll(stepmail, sequences, lead, "no-such", SEGMENT, env.ms, env.ms, settings)
    assert first.status == again.status == ENROLLED and again.reason == "already enrolled"
    assert other.status == SKIPPED and "already in the sequence" in (other.reason or "")
    assert unknown.status == SKIPPED and "unknown sequence" in (unknown.reason or "")


# --- never twice ---------------------------------------------------------------------------------------


def _due_leads(count: int, now: Now) -> list[Lead]:
    leads = [new_lead(now) for _ in range(count)]
    for lead in leads:
        enrolled(lead, now)
    now.ms = MONDAY_10
    return leads


def test_a_replayed_slot_sends_every_due_step_once(env: Now) -> None:
    leads = _due_leads(3, env)
    slot_now, batches = collected(env.ms)
    first = run_batches(slot_now, batches)
    replay = run_batches(slot_now, batches)  # EventBridge or the state machine ran the slot again
    again = slot(env)  # and a fresh collect at the same time finds nothing due
    assert first["sent"] == 3 and replay["not_due"] == 3 and not again
    assert all(steps_of(lead.email) == ["0"] for lead in leads)


def test_two_overlapping_slot_runs_send_every_due_step_once(env: Now) -> None:
    leads = _due_leads(4, env)
    a_now, a_batches = collected(env.ms)
    b_now, b_batches = collected(env.ms + SLOT_MS)  # the next slot started before this one worked its batches
    assert sorted(map(tuple, a_batches[0])) == sorted(map(tuple, b_batches[0]))
    half = [a_batches[0][:2], a_batches[0][2:]]
    counts = run_batches(a_now, half[:1]) + run_batches(b_now, b_batches) + run_batches(a_now, half[1:])
    assert counts["sent"] == 4, counts
    assert all(steps_of(lead.email) == ["0"] for lead in leads)
    play(env, env.ms + 30 * DAY)
    assert all(steps_of(lead.email) == ["0", "2"] for lead in leads), "and every later step once too"


def test_a_batch_retried_after_a_crash_sends_nothing_twice(env: Now, monkeypatch: pytest.MonkeyPatch) -> None:
    leads = _due_leads(3, env)
    slot_now, batches = collected(env.ms)
    store_ = stepmail_entry.store()
    original = store_.save_progress
    calls = Counter[str]()

    def crash_after_two_sends(enrollment: Any, expected: int) -> bool:
        calls["n"] += 1
        if calls["n"] == 2:  # the Lambda dies after the second lead's mail went, before it was recorded
            raise SystemExit("the Lambda was killed")
        return original(enrollment, expected)

    monkeypatch.setattr(store_, "save_progress", crash_after_two_sends)
    with pytest.raises(SystemExit):
        run_batches(slot_now, batches)
    monkeypatch.setattr(store_, "save_progress", original)
    retried = run_batches(slot_now, batches)  # the state machine's Retry runs the batch again
    assert sum(len(sent_messages(lead.email)) for lead in leads) == 3
    assert retried["sent"] == 2 and retried.get("not_due", 0) == 1, retried


def test_an_unsubscribe_after_the_batch_was_read_stops_the_mail(env: Now, monkeypatch: pytest.MonkeyPatch) -> None:
    """A batch reads its enrollments and leads together before working them: a lead that
    unsubscribes in between gets nothing (the claim is guarded by the lead's version), and the
    rest of the batch goes out."""
    leads = _due_leads(3, env)
    quitter = leads[1]
    slot_now, batches = collected(env.ms)
    store_ = stepmail_entry.store()
    original = store_.read_batch

    def read_then_unsubscribe(refs: list[tuple[str, str]]) -> Any:
        known = original(refs)
        _exit_by("unsubscribe", quitter, env.ms)  # while the batch holds the lead as it was
        return known

    monkeypatch.setattr(store_, "read_batch", read_then_unsubscribe)
    counts = run_batches(slot_now, batches)

    assert sent_messages(quitter.email) == []
    assert enrollment_status(quitter.lead_id) == "exited"
    assert [len(sent_messages(lead.email)) for lead in (leads[0], leads[2])] == [1, 1]
    assert counts["sent"] == 2 and counts["exited"] == 1, counts


# --- catch-up ---------------------------------------------------------------------------------------------


def test_a_missed_hour_is_caught_up_by_the_next_slot(env: Now) -> None:
    leads = _due_leads(3, env)
    env.ms += 3_600_000  # the 10:00 ... 10:55 slots never ran (an outage)
    counts = slot(env)
    assert counts["sent"] == 3
    assert all(sent_at(sent_messages(lead.email)[0]) == MONDAY_10 + 3_600_000 for lead in leads)


# --- failures ---------------------------------------------------------------------------------------------


def test_a_lead_that_keeps_failing_is_recorded_and_queued_without_holding_back_the_batch(
    env: Now, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    good, bad = _due_leads(2, env)
    composer = stepmail_entry.engine().composer
    compose = composer.compose

    def broken(lead: Lead, *args: Any) -> Any:
        if lead.lead_id == bad.lead_id:
            raise RuntimeError("template store unreachable")
        return compose(lead, *args)

    monkeypatch.setattr(composer, "compose", broken)
    first = slot(env)
    assert first["sent"] == 1 and first["retrying"] == 1 and len(sent_messages(good.email)) == 1
    retry = StepmailStore(store()).get_enrollment(bad.lead_id, WEBINAR)
    assert retry is not None and retry.attempts == 1 and retry.due_at is not None and retry.due_at > env.ms
    play(env, env.ms + DAY)  # backoff with jitter: 4 more tries, then failed
    failed = StepmailStore(store()).get_enrollment(bad.lead_id, WEBINAR)
    assert failed is not None and (failed.status, failed.attempts, failed.due_at) == ("failed", 5, None)
    assert "template store unreachable" in (failed.error or "")
    queue = os.environ["STEPMAIL_FAILURE_QUEUE_URL"]
    messages = boto3.client("sqs").receive_message(QueueUrl=queue, MaxNumberOfMessages=10)["Messages"]
    assert [json.loads(m["Body"])["lead_id"] for m in messages] == [bad.lead_id]
    assert '"StepmailFailures"' in capsys.readouterr().out  # the metric (CloudWatch EMF)
    assert not sent_messages(bad.email)


def test_ses_throttling_is_retried_later_and_the_mail_goes_once(env: Now, monkeypatch: pytest.MonkeyPatch,
                                                                 metrics_emitted: Any) -> None:
    (lead,) = _due_leads(1, env)
    metrics_emitted()
    client = stepmail_entry.engine().mailer.client  # type: ignore[attr-defined]
    error = {"Error": {"Code": "TooManyRequestsException", "Message": "Maximum sending rate exceeded."},
             "ResponseMetadata": {"HTTPStatusCode": 429}}
    original = client.send_email
    monkeypatch.setattr(client, "send_email", lambda **kw: (_ for _ in ()).throw(ClientError(error, "SendEmail")))
    assert slot(env)["retrying"] == 1
    assert metrics_emitted() == {"MailsDeferred": 1}
    message_id = f"{WEBINAR}:0:{lead.lead_id}:{MONDAY_9}"
    assert StepmailStore(store()).get_claim(lead.lead_id, message_id) is None, "the claim is released"
    monkeypatch.setattr(client, "send_email", original)
    play(env, env.ms + 3_600_000)
    assert steps_of(lead.email) == ["0"]
    assert metrics_emitted() == {"MailsSent": 1}
    claim = StepmailStore(store()).get_claim(lead.lead_id, message_id)
    assert claim is not None and claim.status == "sent" and claim.ses_message_id


# --- one person, one mail at a time -------------------------------------------------------------------


def test_two_sequences_of_one_lead_give_one_mail_per_slot_a_day_apart_and_the_cap_holds(env: Now) -> None:
    lead = new_lead(env)
    for sequence in ("webinar-invite", "win-back", "repurchase"):
        enrolled(lead, env, sequence, segment=None)
    slot_now, batches = collected(MONDAY_10)
    assert len(batches) == 1 and len(batches[0]) == 3, "a lead's enrollments share a batch"
    env.ms = slot_now
    assert run_batches(slot_now, batches)["sent"] == 1, "one mail in the slot"
    play(env, env.ms + 10 * DAY)
    times = sorted(sent_at(m) for m in sent_messages(lead.email))
    assert len(times) >= 3
    assert all(b - a >= DAY for a, b in itertools.pairwise(times)), "at least a day between two mails"
    week = [t for t in times if t < times[0] + 7 * DAY]
    assert len(week) == 2, "at most 2 mails in 7 days, all sequences together (deferred, never dropped)"
    assert {str(m["X-Reawake-Message"]).split(":")[0] for m in sent_messages(lead.email)} == {
        "webinar-invite", "win-back", "repurchase"}


# --- a property: an unsubscribed or bounced lead is never mailed after that moment ----------------------

ACTIONS = st.lists(st.sampled_from(["slot", "slot", "unsubscribe", "bounce", "complaint", "click", "page_view",
                                    "open", "replay"]), min_size=1, max_size=12)


@settings(max_examples=20, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(actions=ACTIONS)
def test_no_mail_after_an_unsubscribe_bounce_or_complaint_and_none_twice(env: Now, actions: list[str]) -> None:
    lead = new_lead(env)
    enrolled(lead, env)
    stopped_at: int | None = None
    last: tuple[int, list[list[list[str]]]] | None = None
    stepmail = StepmailStore(store())
    for action in actions:
        if action == "slot":
            due = stepmail.earliest_due(env.ms + 30 * DAY)
            if due is None:
                break
            env.ms = max(env.ms, next_slot(due))
            last = collected(env.ms)
            run_batches(*last)
        elif action == "replay":
            if last is not None:
                run_batches(*last)
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
        late = [m for m in mails if sent_at(m) >= stopped_at]
        assert not late, f"mailed after the stop: {[m['X-Reawake-Message'] for m in late]}"
