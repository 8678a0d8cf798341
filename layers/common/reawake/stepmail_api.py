"""The step-mail function's actions, called by the state machine (statemachines/stepmail.asl.json):

- ``plan``: decide the enrollment's next step (recording skips, ending it on an exit) and answer
  *wait until its slot*;
- ``send``: act on what is due now — re-decide with the lead as it is now, send the mail exactly
  once through SESv2 (raw MIME, the configuration set, tags), write owner tasks — and plan the
  next step;
- ``fail``: record the caught error on the enrollment.

Also the pieces other functions use to enroll leads (``sequence_enroller``): the segment function
hands its ``sequence`` / ``owner_task`` approaches over here.
"""

from __future__ import annotations

from functools import cache
from typing import Any

from aws_lambda_powertools import Logger
from pydantic import BaseModel, ConfigDict, Field

from reawake import clock
from reawake.approaches import PENDING, Approach
from reawake.aws import secret_json
from reawake.config_store import ConfigStore
from reawake.enrollment import SKIPPED, Engine, Enrollment, NotSent, Outgoing, enroll
from reawake.leads import Lead
from reawake.mail.templates import TemplateStore
from reawake.scoring import ScoringConfig
from reawake.sequences import Send, Sequence
from reawake.settings import SegmentFunctionSettings, StepmailFunctionSettings, get_settings
from reawake.stepmail_store import ExecutionStarter, SequenceConfig, StepmailStore
from reawake.store import Store

logger = Logger(child=True)

#: SES errors after which nothing was sent (HTTP 4xx); the throttling ones are retried slower.
THROTTLING = {"TooManyRequestsException", "Throttling", "ThrottlingException", "LimitExceededException"}


class RefIn(BaseModel):
    model_config = ConfigDict(extra="ignore")
    lead_id: str = Field(pattern=r"^[a-z0-9]{20}$")
    sequence: str = Field(pattern=r"^[a-z0-9][a-z0-9-]{0,62}$")
    enrolled_at: int = Field(ge=0)


class FailIn(RefIn):
    error: dict[str, Any] = Field(default_factory=dict)


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
            from reawake.aws import client

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
                raise NotSent(f"{code}: {exc}", throttled=True) from exc
            if 400 <= status < 500:
                raise NotSent(f"{code}: {exc}") from exc
            raise
        return str(response["MessageId"])


@cache
def engine() -> Engine:
    return Engine(
        store=store(),
        mailer=SesMailer(templates()),
        sequences=lambda: sequence_config().sequences(),
        settings=lambda: sequence_config().settings(),
        scoring=scoring,
        now_ms=clock.now_ms,
        log=_log,
    )


def plan(payload: dict[str, Any]) -> dict[str, Any]:
    ref = RefIn.model_validate(payload)
    return engine().advance(ref.lead_id, ref.sequence, ref.enrolled_at, act=False)


def send(payload: dict[str, Any]) -> dict[str, Any]:
    ref = RefIn.model_validate(payload)
    return engine().advance(ref.lead_id, ref.sequence, ref.enrolled_at, act=True)


def fail(payload: dict[str, Any]) -> dict[str, Any]:
    body = FailIn.model_validate(payload)
    error = f"{body.error.get('Error', 'error')}: {body.error.get('Cause', '')}".strip()
    return engine().fail(body.lead_id, body.sequence, body.enrolled_at, error)


ACTIONS = {"plan": plan, "send": send, "fail": fail}


def handle(event: dict[str, Any]) -> dict[str, Any]:
    action = event.get("action")
    if action not in ACTIONS:
        raise ValueError(f"action must be one of {sorted(ACTIONS)}, not {action!r}")
    return ACTIONS[str(action)](event.get("input") or {})


# --- enrolling, for the segment function and the CLI ------------------------------------------------


class SequenceEnroller:
    """Enrolls leads in sequences: the enrollment item, then the execution (``enrollment.enroll``)."""

    def __init__(self, stepmail: StepmailStore, state_machine_arn: str, sequences: SequenceConfig) -> None:
        self.stepmail = stepmail
        self.starter = ExecutionStarter(state_machine_arn)
        self.config = sequences

    def enroll(self, lead: Lead, sequence_id: str, segment_id: str | None, enrolled_at: int,
               now_ms: int) -> tuple[str, str | None]:
        outcome = enroll(self.stepmail, self.starter, self.config.sequences(), lead, sequence_id, segment_id,
                         enrolled_at, now_ms)
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


def sequence_enroller(table: Store) -> SequenceEnroller | None:
    """The enroller of this stack, or None when it has no step-mail state machine (logged)."""
    arn = get_settings(SegmentFunctionSettings).stepmail_state_machine_arn
    if not arn.startswith("arn:"):
        logger.warning("no step-mail state machine (STEPMAIL_STATE_MACHINE_ARN): approaches stay pending")
        return None
    return SequenceEnroller(StepmailStore(table), arn, sequence_config())


def enrollment_view(enrollment: Enrollment) -> dict[str, Any]:
    return {**enrollment.ref(), "status": enrollment.status, "steps": len(enrollment.steps),
            "reason": enrollment.reason}
