"""The running local stack as `reawake demo` sees it: its clock, its table, its outbox, and the state
of the demo leads' step-mail enrollments (read with the engine's own ``decide``)."""

from __future__ import annotations

import secrets
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime
from email.utils import parseaddr
from pathlib import Path
from typing import TYPE_CHECKING, Any, TypeVar

from reawake.core.leads import Lead
from reawake.core.settings import Settings, get_settings
from reawake.core.store import Store
from reawake.stepmail.enrollment import Enrollment
from reawake_tools.local.clock import advance_running, now_of
from reawake_tools.local.connect import read_stack_file
from reawake_tools.local.outbox import OutboxMail, list_outbox

if TYPE_CHECKING:
    from reawake_tools.demo.history import DemoLead

POLL_S = 0.02
T = TypeVar("T")


class StepFailed(Exception):
    """A step could not finish: the command names the step and exits non-zero."""


@dataclass
class Stage:
    """The running stack as the demo sees it (stack.json, after ``use_local()``)."""

    info: dict[str, Any]
    work_dir: Path  # the run's CSV files
    timeout: float = 30.0
    run_id: str = field(default_factory=lambda: secrets.token_hex(3))

    @property
    def settings(self) -> Settings:
        return get_settings()

    @property
    def store(self) -> Store:
        return Store(self.settings.table_name)

    @property
    def outbox(self) -> Path:
        return Path(self.info.get("outbox") or "")

    def now(self) -> datetime:
        """The stack clock (stack.json is rewritten after every jump)."""
        return now_of(read_stack_file())

    def now_ms(self) -> int:
        return int(self.now().timestamp() * 1000)

    def jump_to(self, moment_ms: int) -> datetime:
        """Move the stack clock to a second after ``moment_ms`` (never back)."""
        ahead = moment_ms / 1000 + 1 - self.now().timestamp()
        return advance_running(self.info, ahead) if ahead > 0 else self.now()

    def wait(self, what: str, check: Callable[[], T | None], timeout: float | None = None) -> T:
        """Poll ``check()`` until it returns something truthy; StepFailed naming ``what`` after the timeout."""
        limit = self.timeout if timeout is None else timeout
        deadline = time.monotonic() + limit
        while not (found := check()):
            if time.monotonic() > deadline:
                raise StepFailed(f"timed out after {limit:g} s waiting for {what}")
            time.sleep(POLL_S)
        return found


def next_wake(enrollment: Enrollment, lead: Lead, now_ms: int) -> int | None:
    """When a send slot next looks at the enrollment (its next step's due time, kept on the
    enrollment); None when it is over."""
    return enrollment.due_at if enrollment.status == "active" else None


def enrollments(stage: Stage, leads: list[DemoLead]) -> dict[str, tuple[Enrollment, Lead]]:
    """role -> (its active enrollment, the lead now), for the demo leads the segment run enrolled."""
    from reawake.stepmail.store import StepmailStore

    found = {}
    for person in leads:
        lead = stage.store.lead_by_email(person.email)
        enrolled = StepmailStore(stage.store).enrollments(lead.lead_id) if lead else []
        active = [e for e in enrolled if e.status == "active"]
        if lead is not None and active:
            found[person.role] = (active[0], lead)
    return found


def mails_to(stage: Stage, email: str) -> list[OutboxMail]:
    return [m for m in list_outbox(stage.outbox) if parseaddr(m.to)[1] == email]
