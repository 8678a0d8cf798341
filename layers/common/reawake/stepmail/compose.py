"""A step's mail to one lead: rendered from the config bucket's templates with signed, tracked links
(``reawake.mail``), as the raw message the one mailer sends (``reawake.mail.mailer``)."""

from __future__ import annotations

from reawake.core.aws import secret_json
from reawake.core.leads import Lead
from reawake.core.settings import StepmailFunctionSettings, get_settings
from reawake.mail.context import build_context
from reawake.mail.links import LinkPolicy, LinkSigner
from reawake.mail.mailer import Outgoing, outgoing
from reawake.mail.render import format_addr, render_email
from reawake.mail.templates import TemplateProblem, TemplateStore
from reawake.stepmail.sequences import Send, Sequence


class StepMailComposer:
    """``enrollment.Composer``: the templates, owners and mail.yaml of the config bucket, the link
    signing key of the secret (read with a refresh, so a rotation is picked up)."""

    def __init__(self, template_store: TemplateStore) -> None:
        self.templates = template_store

    def compose(self, lead: Lead, sequence: Sequence, send: Send, now_ms: int) -> Outgoing:
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
        # SESv1 read the configuration set from this header; SESv2 takes it as a parameter (SesMailer).
        configuration_set = settings.mail_configuration_set
        headers = {"X-SES-CONFIGURATION-SET": configuration_set} if configuration_set else {}
        return outgoing(rendered, to, now_ms=now_ms, tz=settings.time_zone, headers=headers)
