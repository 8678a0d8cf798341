"""The alert function with real-shaped DynamoDB stream batches on moto: events written by the real
tracking code, read back from the table's stream, filtered with template.yaml's FilterCriteria,
handed to functions/alert/app.py."""

from __future__ import annotations

import email
import json
import os
import time
from collections.abc import Callable, Iterator
from email.header import decode_header, make_header
from pathlib import Path
from typing import Any

import boto3
import pytest
from aws_lambda_powertools.utilities.batch.exceptions import BatchProcessingError

from reawake.core.events import Event
from reawake.core.leads import Lead
from reawake.core.settings import get_settings
from reawake.core.store import Store
from reawake_tools.local.streams import StreamConsumer, lambda_record, mappings_of, passes
from reawake_tools.local.template import function_environment, load_template
from tests.conftest import ROOT, SITE, LambdaContext, load_function

ACCOUNT = "123456789012"
REGION = "ap-northeast-1"
OWNER = "sato.kenji@example.co.jp"
TEAM = "sales@example.co.jp"
CHROME = "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/131.0 Safari/537.36"
HOUR = 3_600_000
DAY = 24 * HOUR


def now_ms() -> int:
    return int(time.time() * 1000)


@pytest.fixture
def env(aws: Any, monkeypatch: pytest.MonkeyPatch) -> Iterator[Any]:
    """The alert function's environment, the config bucket as `reawake local` fills it, SES verified,
    and an SQS queue subscribed to the sales alert topic (what Slack/Chatbot would receive)."""
    from reawake.alerts import entry as alert_entry
    from reawake.segments.definitions import upload_config
    from reawake_tools.local.connect import reset_caches

    template = load_template()
    for k, v in function_environment(template, aws, "AlertFunction").items():
        monkeypatch.setenv(k, v)
    monkeypatch.setenv("ALERT_CLICK_SETTLE_MS", "0")
    reset_caches()
    alert_entry.reset()
    s3 = boto3.client("s3")
    bucket = os.environ["CONFIG_BUCKET"]
    upload_config(s3, bucket, ROOT / "config")
    for name in ("mail.yaml", "owners.yaml"):
        s3.put_object(Bucket=bucket, Key=f"config/{name}", Body=(ROOT / "config" / name).read_bytes())
    boto3.client("sesv2").create_email_identity(EmailIdentity="info@example.co.jp")
    sqs = boto3.client("sqs")
    queue = sqs.create_queue(QueueName="slack")["QueueUrl"]
    queue_arn = sqs.get_queue_attributes(QueueUrl=queue, AttributeNames=["QueueArn"])["Attributes"]["QueueArn"]
    boto3.client("sns").subscribe(TopicArn=os.environ["ALERT_TOPIC_ARN"], Protocol="sqs", Endpoint=queue_arn)
    aws.names["slack"] = queue
    yield aws
    alert_entry.reset()


@pytest.fixture
def stream(env: Any) -> Callable[[], list[dict[str, Any]]]:
    """Returns the stream records written since the last call, as Lambda would deliver them after
    the template's filter (only revisit inserts)."""
    (mapping,) = mappings_of(load_template(), env)
    client = boto3.client("dynamodbstreams")
    shard = client.describe_stream(StreamArn=mapping.stream_arn)["StreamDescription"]["Shards"][0]["ShardId"]
    state = {"it": client.get_shard_iterator(StreamArn=mapping.stream_arn, ShardId=shard,
                                              ShardIteratorType="LATEST")["ShardIterator"]}

    def read() -> list[dict[str, Any]]:
        response = client.get_records(ShardIterator=state["it"])
        state["it"] = response["NextShardIterator"]
        records = [lambda_record(r, mapping.stream_arn, REGION) for r in response["Records"]]
        return [r for r in records if passes(mapping.filters, r)]

    return read


@pytest.fixture
def handler(env: Any) -> Callable[[list[dict[str, Any]]], dict[str, Any]]:
    app = load_function("alert")

    def call(records: list[dict[str, Any]]) -> dict[str, Any]:
        result: dict[str, Any] = app.handler({"Records": records}, LambdaContext())
        return result

    return call


def store() -> Store:
    return Store(get_settings().table_name)


def dormant_lead(email_addr: str, owner: str | None = OWNER, name: str = "山田 太郎",
                 company: str = "株式会社さくら精機") -> Lead:
    since = now_ms() - 40 * DAY
    lead_id = store().claim_lead_id(email_addr)
    lead = Lead(lead_id=lead_id, email=email_addr, registered_at=now_ms() - 400 * DAY, name=name,
                company=company, owner=owner, segments={"dormant-no-visit": since}, dormant_since=since,
                last={"page_view": since - 60 * DAY}, days={})
    store().save_lead(lead, None)
    return lead


def visit(lead: Lead, n: int = 1, ua: str = CHROME, kind: str = "page_view", at: int | None = None,
          message_id: str | None = None, prefix: str = "pv", purpose: str | None = None) -> list[Event]:
    """n events of the lead, recorded by the real tracking code (so flagged as revisits)."""
    from reawake.tracking.recording import record

    start = (at or now_ms() - 5_000)
    events = [Event(id=f"{prefix}{lead.lead_id[:8]}{i:04d}", kind=kind, ts=start + i, source="email" if kind ==
                    "email_click" else "browser", visitor_id=None if kind == "email_click" else "v" * 32,
                    lead_id=lead.lead_id, url=f"{SITE}/product/{i}", user_agent=ua, message_id=message_id,
                    props={"title": f"製品ページ{i}"}, fetch_purpose=purpose)
              for i in range(n)]
    revisits = sum(record(store(), get_settings(), events[i : i + 50], now_ms()).revisits  # the API's batch limit
                   for i in range(0, n, 50))
    assert revisits == n
    return events


def sent_mail() -> list[Any]:
    from moto.ses.models import ses_backends

    return list(ses_backends[ACCOUNT][REGION].sent_messages)


def mail_to(address: str) -> list[email.message.Message]:
    return [email.message_from_string(m.raw_data) for m in sent_mail() if any(address in d for d in m.destinations)]


def text_part(message: email.message.Message) -> str:
    for part in message.walk():
        if part.get_content_type() == "text/plain":
            payload = part.get_payload(decode=True)
            assert isinstance(payload, bytes)
            return payload.decode("utf-8")
    raise AssertionError("no text part")


def subject(message: email.message.Message) -> str:
    return str(make_header(decode_header(message["Subject"])))


def published(env: Any) -> list[dict[str, Any]]:
    sqs = boto3.client("sqs")
    out = []
    while True:
        got = sqs.receive_message(QueueUrl=env.names["slack"], MaxNumberOfMessages=10).get("Messages", [])
        if not got:
            return out
        out += [json.loads(m["Body"]) for m in got]


# --- the tests -------------------------------------------------------------------------------------


def test_a_returning_dormant_lead_alerts_its_owner_with_what_to_act_on(stream: Any, handler: Any, env: Any) -> None:
    lead = dormant_lead("t.yamada@sakura-seiki.example.jp")
    visit(lead, 3)
    batch = stream()
    assert len(batch) == 3, "only the revisit inserts pass the filter (not the lead's profile update)"

    assert handler(batch) == {"batchItemFailures": []}

    (message,) = mail_to(OWNER)
    assert "【再訪アラート】株式会社さくら精機 山田 太郎様" in subject(message)
    body = text_part(message)
    assert "佐藤 健二さん" in body  # the owner's name from owners.yaml
    assert "登録90日以上・直近30日サイト訪問なし" in body  # why dormant: the segment's name
    assert "休眠前の最終アクティビティ" in body and "ページ閲覧" in body
    assert body.count("製品ページ") == 3, "the pages of this visit so far"
    assert f"https://crm.example.co.jp/leads/{lead.lead_id}" in body
    assert "List-Unsubscribe" not in message, "a mail to our own salesperson is not marketing"

    (note,) = published(env)
    attributes = {k: v["Value"] for k, v in note["MessageAttributes"].items()}
    assert attributes == {"owner": OWNER, "segment": "dormant-no-visit", "band": attributes["band"]}
    chatbot = json.loads(note["Message"])
    assert chatbot["version"] == "1.0" and chatbot["source"] == "custom"
    assert chatbot["content"]["textType"] == "client-markdown" and "山田 太郎" in chatbot["content"]["title"]

    after = store().get_lead(lead.lead_id)
    assert after is not None and after.reactivated_at is not None
    assert lead.dormant_since is not None and after.reactivated_at >= lead.dormant_since
    assert after.segments == lead.segments, "memberships stay: the next segment run decides"
    history = [i["sk"]["S"] for i in store().query_items(f"LEAD#{lead.lead_id}", "REACTIVATED#")]
    assert history == [f"REACTIVATED#dormant-no-visit#{after.reactivated_at}"]


def test_duplicate_stream_deliveries_give_one_alert(stream: Any, handler: Any, metrics_emitted: Any) -> None:
    lead = dormant_lead("dup@example.jp")
    visit(lead, 1)
    batch = stream()
    metrics_emitted()
    assert handler(batch) == {"batchItemFailures": []}
    assert handler(batch) == {"batchItemFailures": []}  # redelivered (a retry, a bisected batch)
    assert handler(batch + batch) == {"batchItemFailures": []}
    assert len(mail_to(OWNER)) == 1
    assert metrics_emitted() == {"AlertsSent": 1, "AlertsSuppressed[throttled]": 3}


def test_a_burst_of_100_page_views_in_one_visit_gives_one_alert(stream: Any, handler: Any) -> None:
    lead = dormant_lead("burst@example.jp")
    visit(lead, 100)
    batch = stream()
    assert len(batch) == 100
    for start in range(0, 100, 25):  # BatchSize 25
        assert handler(batch[start : start + 25]) == {"batchItemFailures": []}
    assert len(mail_to(OWNER)) == 1


def test_the_window_allows_the_next_return(stream: Any, handler: Any, monkeypatch: pytest.MonkeyPatch) -> None:
    from reawake.core import clock

    lead = dormant_lead("again@example.jp")
    visit(lead, 1)
    handler(stream())
    later = now_ms() + 13 * HOUR  # AlertWindowHours is 12
    monkeypatch.setattr(clock, "now_ms", lambda: later)
    visit(lead, 1, at=later - 1000, prefix="pw")
    handler(stream())
    assert len(mail_to(OWNER)) == 2


def test_a_lead_without_an_owner_alerts_the_team(stream: Any, handler: Any, env: Any) -> None:
    lead = dormant_lead("noowner@example.jp", owner=None, name="鈴木 一郎", company="ひかり物流株式会社")
    visit(lead, 1)
    handler(stream())
    (message,) = mail_to(TEAM)
    assert "担当営業が設定されていません" in text_part(message)
    (note,) = published(env)
    assert note["MessageAttributes"]["owner"]["Value"] == "team"


@pytest.mark.parametrize("ua", [
    "Mozilla/5.0 (compatible; Googlebot/2.1; +http://www.google.com/bot.html)",
    "Mozilla/5.0 AppleWebKit/537.36 (KHTML, like Gecko; compatible; bingbot/2.0; +http://www.bing.com/bingbot.htm)",
    "Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko) HeadlessChrome/131.0 Safari/537.36",
    "python-requests/2.32.3",
])
def test_bots_never_alert_and_are_recorded(stream: Any, handler: Any, ua: str, metrics_emitted: Any) -> None:
    from reawake.alerts.store import AlertStore

    lead = dormant_lead("bot@example.jp")
    visit(lead, 2, ua=ua)
    metrics_emitted()
    assert handler(stream()) == {"batchItemFailures": []}
    assert mail_to(OWNER) == []
    assert metrics_emitted() == {"AlertsSuppressed[bot]": 2}
    notes = AlertStore(store()).suppressed(lead.lead_id)
    assert [n["reason"] for n in notes] == ["bot", "bot"]
    after = store().get_lead(lead.lead_id)
    assert after is not None and after.reactivated_at is None, "a bot does not end dormancy"


def test_prefetch_never_alerts(stream: Any, handler: Any) -> None:
    from reawake.alerts.store import AlertStore

    lead = dormant_lead("prefetch@example.jp")
    visit(lead, 1, purpose="prefetch")
    handler(stream())
    assert mail_to(OWNER) == []
    assert [n["reason"] for n in AlertStore(store()).suppressed(lead.lead_id)] == ["prefetch"]


def test_a_click_seconds_after_delivery_is_a_scanner(stream: Any, handler: Any) -> None:
    from reawake.alerts.store import AlertStore
    from reawake.tracking.recording import suppress

    lead = dormant_lead("scanner@example.jp")
    delivered = now_ms() - 10_000
    delivery = Event(id="fdeliv0001", kind="email_delivery", ts=delivered, source="ses", lead_id=lead.lead_id,
                     message_id="win-back:0:x")
    suppress(store(), get_settings(), lead.lead_id, delivery, None, now_ms())
    visit(lead, 1, kind="email_click", at=delivered + 3_000, message_id="win-back:0:x")
    handler(stream())
    assert mail_to(OWNER) == []
    assert [n["reason"] for n in AlertStore(store()).suppressed(lead.lead_id)] == ["scanner_fast_click"]


def test_many_links_clicked_within_a_second_is_a_scanner(stream: Any, handler: Any) -> None:
    from reawake.alerts.store import AlertStore

    lead = dormant_lead("burstclick@example.jp")
    visit(lead, 4, kind="email_click", at=now_ms() - 60_000, message_id="win-back:0:y")  # 4 links within 4 ms
    handler(stream())
    assert mail_to(OWNER) == []
    assert {n["reason"] for n in AlertStore(store()).suppressed(lead.lead_id)} == {"scanner_burst"}


def test_a_person_clicking_a_mail_a_day_later_alerts(stream: Any, handler: Any) -> None:
    lead = dormant_lead("person@example.jp")
    visit(lead, 1, kind="email_click", at=now_ms() - 30_000, message_id="win-back:0:z")
    handler(stream())
    (message,) = mail_to(OWNER)
    assert "メール（win-back）のリンク" in text_part(message)


def test_a_failing_ses_call_fails_only_its_record(stream: Any, handler: Any, monkeypatch: pytest.MonkeyPatch) -> None:
    from reawake.core.aws import client
    from reawake_tools.local.iam import running_as

    good = dormant_lead("good@example.jp", owner="suzuki.misaki@example.co.jp")
    bad = dormant_lead("bad@example.jp", owner="takahashi.ryo@example.co.jp")
    visit(bad, 1)
    visit(good, 1)
    batch = stream()
    with running_as("AlertFunction"):  # the function's own client (one per container)
        ses = client("sesv2")
    real = ses.send_email

    def flaky(**kwargs: Any) -> Any:
        if "takahashi.ryo@example.co.jp" in kwargs["Destination"]["ToAddresses"]:
            raise ses.exceptions.TooManyRequestsException({"Error": {"Code": "TooManyRequests"}}, "SendEmail")
        return real(**kwargs)

    monkeypatch.setattr(ses, "send_email", flaky)
    result = handler(batch)
    bad_seq = batch[0]["dynamodb"]["SequenceNumber"]
    assert result == {"batchItemFailures": [{"itemIdentifier": bad_seq}]}
    assert len(mail_to("suzuki.misaki@example.co.jp")) == 1, "the rest of the batch is alerted"

    monkeypatch.setattr(ses, "send_email", real)
    assert handler(batch) == {"batchItemFailures": []}, "the retry resumes the claimed alert"
    assert len(mail_to("takahashi.ryo@example.co.jp")) == 1
    assert len(mail_to("suzuki.misaki@example.co.jp")) == 1, "and does not mail the others again"


def test_a_failing_sns_publish_after_the_mail_is_retried_without_a_second_mail(
        stream: Any, handler: Any, env: Any, monkeypatch: pytest.MonkeyPatch) -> None:
    from reawake.core.aws import client
    from reawake_tools.local.iam import running_as

    lead = dormant_lead("sns@example.jp", owner="suzuki.misaki@example.co.jp")
    visit(lead, 1)
    batch = stream()
    with running_as("AlertFunction"):  # the function's own client (one per container)
        sns = client("sns")
    real = sns.publish

    def down(**kwargs: Any) -> Any:
        raise sns.exceptions.ThrottledException({"Error": {"Code": "Throttled"}}, "Publish")

    monkeypatch.setattr(sns, "publish", down)
    with pytest.raises(BatchProcessingError):  # every record of the batch failed: Lambda retries it
        handler(batch)
    assert len(mail_to("suzuki.misaki@example.co.jp")) == 1 and not published(env)

    monkeypatch.setattr(sns, "publish", real)
    assert handler(batch) == {"batchItemFailures": []}
    assert len(mail_to("suzuki.misaki@example.co.jp")) == 1, "the owner is not mailed twice"
    assert len(published(env)) == 1
    assert handler(batch) == {"batchItemFailures": []} and len(published(env)) == 0, "a late duplicate: nothing"


def test_retries_end_in_the_failure_queue_without_blocking_the_rest(env: Any, monkeypatch: pytest.MonkeyPatch) -> None:
    """The local event source mapping: Lambda's retries, then the on-failure destination (SQS)."""
    from reawake.core.aws import client
    from reawake_tools.local.iam import running_as

    app = load_function("alert")
    calls: list[int] = []

    def invoke(_: str, event: Any) -> Any:
        calls.append(len(event["Records"]))
        return app.handler(event, LambdaContext())

    (mapping,) = mappings_of(load_template(), env)
    consumer = StreamConsumer([mapping], invoke, boto3.client, {"AlertFunction": "arn:aws:lambda:fn"})
    consumer._open(mapping)
    bad = dormant_lead("bad2@example.jp", owner="takahashi.ryo@example.co.jp")
    good = dormant_lead("good2@example.jp", owner="suzuki.misaki@example.co.jp")
    visit(bad, 1)
    visit(good, 1)
    with running_as("AlertFunction"):  # the function's own client (one per container)
        ses = client("sesv2")
    real = ses.send_email

    def failing(**kwargs: Any) -> Any:
        if "takahashi.ryo@example.co.jp" in kwargs["Destination"]["ToAddresses"]:
            raise RuntimeError("SES is down for this one")
        return real(**kwargs)

    monkeypatch.setattr(ses, "send_email", failing)
    assert consumer.poll(mapping)
    assert calls == [2, 2, 2, 2], "the first attempt and MaximumRetryAttempts (3) retries from the failed record"
    assert len(mail_to("suzuki.misaki@example.co.jp")) == 1
    assert mail_to("takahashi.ryo@example.co.jp") == []
    sqs = boto3.client("sqs")
    messages = sqs.receive_message(QueueUrl=env.names["AlertFailureQueue"]).get("Messages", [])
    (failure,) = [json.loads(m["Body"]) for m in messages]
    assert failure["requestContext"]["condition"] == "RetryAttemptsExhausted"
    assert failure["requestContext"]["approximateInvokeCount"] == 4
    assert failure["DDBStreamBatchInfo"]["streamArn"] == mapping.stream_arn
    consumer.poll(mapping)  # the alert's own writes (throttle, notes) are on the stream, filtered out
    assert calls == [2, 2, 2, 2], "the poller moved on"


def test_reactivation_ends_the_running_sequences(stream: Any, handler: Any) -> None:
    sequences = pytest.importorskip("reawake.stepmail.sequences")
    settings = sequences.load_stepmail_settings(ROOT / "config" / "stepmail.yaml")
    loaded = sequences.load_sequences([ROOT / "config" / "sequences"], settings, None)
    lead = dormant_lead("enrolled@example.jp")
    from dataclasses import replace

    # A lead enrolled in the webinar sequence from its segment (the stepmail engine's state).
    store().save_lead(replace(lead, segments={**lead.segments, "dormant-no-webinar": lead.dormant_since}),
                      lead.version + 1)
    enrolled_at = now_ms() - DAY
    state = sequences.EnrollmentState("webinar-invite", lead.lead_id, "dormant-no-webinar", enrolled_at)
    before = store().get_lead(lead.lead_id)
    assert before is not None
    # A bare email click does not exit a sequence (scanners click); the alert function's judgement does.
    running = sequences.decide(loaded["webinar-invite"], state, before, sequences.MailHistory(), now_ms(), settings)
    assert not isinstance(running, sequences.Exit)
    visit(lead, 1, kind="email_click", at=now_ms() - 30_000, message_id="webinar-invite:0:q")
    handler(stream())
    after = store().get_lead(lead.lead_id)
    assert after is not None and after.reactivated_at is not None
    decision = sequences.decide(loaded["webinar-invite"], state, after, sequences.MailHistory(), now_ms(), settings)
    assert decision == sequences.Exit(sequences.ExitReason.REVISITED)
    notes = sorted(i["sk"]["S"].split("#")[1] for i in store().query_items(f"LEAD#{lead.lead_id}", "REACTIVATED#"))
    assert notes == ["dormant-no-visit", "dormant-no-webinar"]


def test_a_record_that_is_not_a_revisit_is_skipped(handler: Any) -> None:
    record = {"eventName": "MODIFY", "eventSource": "aws:dynamodb", "dynamodb": {
        "SequenceNumber": "1", "Keys": {"pk": {"S": "LEAD#x"}, "sk": {"S": "PROFILE"}},
        "NewImage": {"pk": {"S": "LEAD#x"}, "sk": {"S": "PROFILE"}}}}
    assert handler([record]) == {"batchItemFailures": []}
    assert sent_mail() == []


_ = Path  # keep the import for readers following ROOT
