"""The step-mail function's actions, called by the send-slot state machine
(statemachines/sendslot.asl.json):

- ``collect``: the enrollments due at or before the slot's ``now``, in batches, written as a JSON
  manifest to the slot bucket for the Distributed Map (``reawake.stepmail.slot.collect``);
- ``batch``: work one batch at the slot's ``now`` — decide, re-check consent, suppression and
  exits, send each due mail exactly once through SESv2 (raw MIME, the configuration set, tags),
  write owner tasks and the next due time; a lead that still fails goes to the failure queue and
  the ``StepmailFailures`` metric (``reawake.stepmail.slot.run_batch``).

Also the pieces other functions use to enroll leads (``sequence_enroller``): the segment function
hands its ``sequence`` / ``owner_task`` approaches over here — a conditional write each, no Step
Functions call.
"""

from __future__ import annotations

import json
from datetime import datetime
from functools import cache
from typing import Annotated, Any

from aws_lambda_powertools import Logger
from pydantic import BaseModel, ConfigDict, Field, StringConstraints

from reawake.core import clock
from reawake.core.aws import secret_json
from reawake.core.config_store import ConfigStore
from reawake.core.leads import Lead
from reawake.core.scoring import ScoringConfig
from reawake.core.settings import StepmailFunctionSettings, get_settings
from reawake.core.store import Store
from reawake.mail.templates import TemplateStore
from reawake.observability import count
from reawake.segments.approaches import PENDING, Approach
from reawake.stepmail.enrollment import SKIPPED, Engine, Enrollment, NotSent, Outgoing, enroll
from reawake.stepmail.sequences import Send, Sequence
from reawake.stepmail.slot import Ref, collect, run_batch
from reawake.stepmail.store import SequenceConfig, StepmailStore

logger = Logger(child=True)

#: SES errors after which nothing was sent (HTTP 4xx); the throttling ones are retried slower.
THROTTLING = {"TooManyRequestsException", "Throttling", "ThrottlingException", "LimitExceededException"}


LeadId = Annotated[str, StringConstraints(pattern=r"^[A-Za-z0-9_-]{1,64}$")]
SequenceId = Annotated[str, StringConstraints(pattern=r"^[a-z0-9][a-z0-9-]{0,62}$")]


class CollectIn(BaseModel):
    model_config = ConfigDict(extra="ignore")
    now: datetime | None = None  # the scheduled moment (EventBridge Scheduler's <aws.scheduler.scheduled-time>)


class BatchIn(BaseModel):
    model_config = ConfigDict(extra="ignore")
    now: int = Field(ge=0)
    enrollments: list[tuple[LeadId, SequenceId]] = Field(min_length=1, max_length=1000)


@cache
def store() -> StepmailStore:
    return StepmailStore(Store(get_settings().table_name))


@cache
def sequence_config() -> SequenceConfig:
    return SequenceConfig(get_settings().config_bucket)


@cache
def scoring_config() -> ConfigStore:
    return ConfigStore(get_settings().config_bucket)


@cache
def templates() -> TemplateStore:
    return TemplateStore(get_settings().config_bucket)


def scoring() -> ScoringConfig | None:
    return scoring_config().scoring()


def _log(message: str, extra: dict[str, Any]) -> None:
    logger.info(message, extra=extra)


class SesMailer:
    """Renders with ``reawake.mail`` and sends through SESv2 as raw MIME."""

    def __init__(self, template_store: TemplateStore, client: Any = None) -> None:
        self.templates = template_store
        self._client = client

    @property
    def client(self) -> Any:
        if self._client is None:
            from reawake.core.aws import client

            self._client = client("sesv2")
        return self._client

    def compose(self, lead: Lead, sequence: Sequence, send: Send, now_ms: int) -> Outgoing:
        from reawake.mail.context import build_context
        from reawake.mail.links import LinkPolicy, LinkSigner
        from reawake.mail.mime import build_message
        from reawake.mail.render import format_addr, render_email
        from reawake.mail.templates import TemplateProblem

        settings = get_settings(StepmailFunctionSettings)
        mail = self.templates.mail_config()
        if mail is None:
            raise TemplateProblem(["no mail config in the config bucket (config/mail.yaml): run "
                                   "`reawake templates upload`"])
        step = sequence.steps[send.step_index]
        context = build_context(lead, self.templates.owners(), mail.sender, sequence.name,
                                step.name or step.label, now_ms, settings.time_zone)
        secret = secret_json(settings.signing_secret_arn, settings.secret_max_age_seconds)
        key = str(secret["signing_key"]).encode("utf-8")
        signer = LinkSigner(settings.public_api_url, key, lead.lead_id, send.message_id, now_ms,
                            LinkPolicy.current(mail))
        rendered = render_email(send.template, context, self.templates, signer, mail)
        to = format_addr(f"{lead.name} 様" if lead.name else "", lead.email)
        headers = {}
        if settings.mail_configuration_set:
            headers["X-SES-CONFIGURATION-SET"] = settings.mail_configuration_set
        raw = build_message(rendered, to, headers=headers, now_ms=now_ms, tz=settings.time_zone)
        return Outgoing(raw, lead.email, rendered.subject)

    def deliver(self, outgoing: Outgoing, tags: dict[str, str]) -> str:
        from botocore.exceptions import ClientError

        args: dict[str, Any] = {
            "Destination": {"ToAddresses": [outgoing.to]},
            "Content": {"Raw": {"Data": outgoing.raw}},
            "EmailTags": [{"Name": k, "Value": v} for k, v in tags.items()],
        }
        configuration_set = get_settings(StepmailFunctionSettings).mail_configuration_set
        if configuration_set:
            args["ConfigurationSetName"] = configuration_set
        try:
            response = self.client.send_email(**args)
        except ClientError as exc:
            code = exc.response.get("Error", {}).get("Code", "")
            status = int(exc.response.get("ResponseMetadata", {}).get("HTTPStatusCode") or 0)
            if code in THROTTLING or status == 429:
                count("MailsDeferred")  # retried by the state machine, slower
                raise NotSent(f"{code}: {exc}", throttled=True) from exc
            count("MailsFailed")
            if 400 <= status < 500:
                raise NotSent(f"{code}: {exc}") from exc
            raise
        count("MailsSent")
        return str(response["MessageId"])


@cache
def engine() -> Engine:
    return Engine(
        store=store(),
        mailer=SesMailer(templates()),
        sequences=lambda: sequence_config().sequences(),
        settings=lambda: sequence_config().settings(),
        scoring=scoring,
        log=_log,
    )


class QueueFailures:
    """A lead that still fails: a message on the failure queue (for a person to look at and
    re-enroll) and one ``StepmailFailures`` metric (the alarm's input)."""

    def __init__(self, queue_url: str, client: Any = None) -> None:
        self.queue_url = queue_url
        self._client = client

    @property
    def client(self) -> Any:
        if self._client is None:
            from reawake.core.aws import client

            self._client = client("sqs")
        return self._client

    def report(self, ref: Ref, error: str, attempts: int, now_ms: int) -> None:
        from aws_lambda_powertools.metrics import MetricUnit, single_metric

        body = {"lead_id": ref.lead_id, "sequence": ref.sequence, "error": error[:1000], "attempts": attempts,
                "failed_at": now_ms}
        if self.queue_url:
            self.client.send_message(QueueUrl=self.queue_url, MessageBody=json.dumps(body, ensure_ascii=False))
        with single_metric(name="StepmailFailures", unit=MetricUnit.Count, value=1, namespace="Reawake") as metric:
            metric.add_dimension(name="sequence", value=ref.sequence)
        logger.error("step mail failed for good", extra={"lead_id": ref.lead_id, "sequence": ref.sequence,
                                                         "attempts": attempts, "error": error[:300]})


@cache
def failures() -> QueueFailures:
    return QueueFailures(get_settings(StepmailFunctionSettings).stepmail_failure_queue_url)


def collect_slot(payload: dict[str, Any]) -> dict[str, Any]:
    """The slot's due enrollments as a manifest of batches in the slot bucket (the Distributed
    Map's ItemReader); ``batches`` = 0 when nothing is due."""
    body = CollectIn.model_validate(payload)
    now = int(body.now.timestamp() * 1000) if body.now is not None else clock.now_ms()
    settings = get_settings(StepmailFunctionSettings)
    batches = collect(store(), now, settings.send_slot_limit)
    result: dict[str, Any] = {"now": now, "batches": len(batches), "enrollments": sum(map(len, batches)),
                              "concurrency": settings.send_slot_concurrency}
    if batches:
        from reawake.core.aws import client

        bucket = settings.send_slot_bucket
        key = f"slots/{now}.json"  # a replayed slot rewrites its own manifest
        client("s3").put_object(Bucket=bucket, Key=key, ContentType="application/json",
                                Body=json.dumps([[r.as_list() for r in batch] for batch in batches]).encode())
        result["manifest"] = {"bucket": bucket, "key": key}
    logger.info("send slot collected", extra={k: v for k, v in result.items() if k != "manifest"})
    return result


def send_batch(payload: dict[str, Any]) -> dict[str, Any]:
    body = BatchIn.model_validate(payload)
    refs = [Ref(lead, sequence) for lead, sequence in body.enrollments]
    with store().counts_held():  # the batch's report counts in one write per step and day
        counts = run_batch(engine(), refs, body.now, failures())
    logger.info("send slot batch", extra={"now": body.now, **counts})
    return counts


ACTIONS = {"collect": collect_slot, "batch": send_batch}


def handle(event: dict[str, Any]) -> dict[str, Any]:
    action = event.get("action")
    if action not in ACTIONS:
        raise ValueError(f"action must be one of {sorted(ACTIONS)}, not {action!r}")
    return ACTIONS[str(action)](event.get("input") or {})


# --- enrolling, for the segment function and the CLI ------------------------------------------------


class SequenceEnroller:
    """Enrolls leads in sequences (``enrollment.enroll``): one conditional write each."""

    def __init__(self, stepmail: StepmailStore, sequences: SequenceConfig) -> None:
        self.stepmail = stepmail
        self.config = sequences

    def enroll(self, lead: Lead, sequence_id: str, segment_id: str | None, enrolled_at: int,
               now_ms: int) -> tuple[str, str | None]:
        outcome = enroll(self.stepmail, self.config.sequences(), lead, sequence_id, segment_id, enrolled_at, now_ms,
                         self.config.settings(), scoring())
        logger.info("enrollment", extra={"lead_id": lead.lead_id, "sequence": sequence_id,
                                         "status": outcome.status, "reason": outcome.reason})
        return outcome.status, outcome.reason

    def dispatch(self, lead: Lead, approach: Approach, now_ms: int) -> str:
        """A segment run's ``sequence`` / ``owner_task`` approach: enroll the lead in the named
        sequence from the moment it entered the segment, and record the outcome on the approach."""
        if approach.type not in ("sequence", "owner_task") or approach.status != PENDING:
            return approach.status
        reason: str | None
        if not approach.sequence:
            status, reason = SKIPPED, "the approach names no sequence"
        else:
            status, reason = self.enroll(lead, approach.sequence, approach.segment_id, approach.entered_at, now_ms)
        self.stepmail.set_approach_status(approach.lead_id, approach.key, status, reason, now_ms)
        return status


def sequence_enroller(table: Store) -> SequenceEnroller:
    """The enroller of this stack (the table and the sequences in the config bucket)."""
    return SequenceEnroller(StepmailStore(table), sequence_config())


def enrollment_view(enrollment: Enrollment) -> dict[str, Any]:
    return {**enrollment.ref(), "status": enrollment.status, "steps": len(enrollment.steps),
            "reason": enrollment.reason, "due_at": enrollment.due_at}
