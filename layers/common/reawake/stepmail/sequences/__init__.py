"""Step-mail sequences as pure domain: the YAML model, send windows and business days (with
Japanese holidays), the per-lead frequency cap, and ``decide`` — what to do next for one
enrollment. No AWS here: the step-mail function and its state machine build on these."""

from reawake.stepmail.sequences.calendar import later, lead_time_zone, next_send_slot
from reawake.stepmail.sequences.cap import earliest_under_cap, mail_slot
from reawake.stepmail.sequences.config import (
    load_sequences,
    load_stepmail_settings,
    parse_sequence,
    parse_stepmail_settings,
)
from reawake.stepmail.sequences.decide import (
    Decision,
    Done,
    EnrollmentState,
    Exit,
    ExitReason,
    MailHistory,
    Send,
    Skip,
    StepRecord,
    Task,
    advanced,
    decide,
    is_due,
    message_id,
    parse_message_id,
)
from reawake.stepmail.sequences.model import FrequencyCap, SendWindow, Sequence, Step, StepmailSettings

__all__ = [
    "Decision",
    "Done",
    "EnrollmentState",
    "Exit",
    "ExitReason",
    "FrequencyCap",
    "MailHistory",
    "Send",
    "SendWindow",
    "Sequence",
    "Skip",
    "Step",
    "StepRecord",
    "StepmailSettings",
    "Task",
    "advanced",
    "decide",
    "earliest_under_cap",
    "is_due",
    "later",
    "lead_time_zone",
    "load_sequences",
    "load_stepmail_settings",
    "mail_slot",
    "message_id",
    "next_send_slot",
    "parse_message_id",
    "parse_sequence",
    "parse_stepmail_settings",
]
