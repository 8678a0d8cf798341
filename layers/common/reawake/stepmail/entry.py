"""The step-mail function's actions, called by the send-slot state machine
(statemachines/sendslot.asl.json):

- ``collect``: the enrollments due at or before the slot's ``now``, in batches, written as a JSON
  manifest to the slot bucket for the Distributed Map (``reawake.stepmail.slot.collect``);
- ``batch``: work one batch at the slot's ``now`` — decide, re-check consent, suppression and
  exits, send each due mail exactly once through SESv2 (raw MIME, the configuration set, tags),
  write owner tasks and the next due time; a lead that still fails goes to the failure queue and
  the ``StepmailFailures`` metric (``reawake.stepmail.slot.run_batch``).

Enrolling (the segment function's hand-over, the CLI) is ``reawake.stepmail.enroller``.
"""

from __future__ import annotations

import json
from datetime import datetime
from functools import cache
from typing import Annotated, Any

from aws_lambda_powertools import Logger
from pydantic import BaseModel, ConfigDict, Field, StringConstraints

from reawake.core import clock
from reawake.core.config_store import bucket_config
from reawake.core.scoring import ScoringConfig
from reawake.core.settings import StepmailFunctionSettings, get_settings
from reawake.core.store import table_store
from reawake.mail.mailer import SesMailer
from reawake.mail.templates import bucket_templates
from reawake.stepmail.compose import StepMailComposer
from reawake.stepmail.enrollment import Engine, Enrollment
from reawake.stepmail.slot import Ref, collect, run_batch
from reawake.stepmail.store import SequenceConfig, StepmailStore

logger = Logger(child=True)

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
    return StepmailStore(table_store())


@cache
def sequence_config() -> SequenceConfig:
    return SequenceConfig(get_settings().config_bucket)


scoring_config = cache(bucket_config)
templates = cache(bucket_templates)


def scoring() -> ScoringConfig | None:
    return scoring_config().scoring()


def _log(message: str, extra: dict[str, Any]) -> None:
    logger.info(message, extra=extra)


@cache
def engine() -> Engine:
    return Engine(
        store=store(),
        composer=StepMailComposer(templates()),
        mailer=SesMailer(get_settings(StepmailFunctionSettings).mail_configuration_set, metrics=True),
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


def enrollment_view(enrollment: Enrollment) -> dict[str, Any]:
    return {**enrollment.ref(), "status": enrollment.status, "steps": len(enrollment.steps),
            "reason": enrollment.reason, "due_at": enrollment.due_at}
