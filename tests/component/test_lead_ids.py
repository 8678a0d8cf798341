"""Lead ids that cannot be computed from the email (issue 9, "linkable ids"): one lead per email
under concurrency, and `reawake migrate lead-ids` for data written with the old, email-derived ids,
including links already sent in mail. On moto, through the real track handler."""

from __future__ import annotations

import dataclasses
import json
import os
import re
import time
from collections.abc import Callable
from typing import Any

from reawake.core.aws import secret_json
from reawake.core.dynamo import serialize
from reawake.core.events import Event
from reawake.core.leads import Lead, legacy_lead_id
from reawake.core.settings import get_settings
from reawake.core.store import Store
from reawake.core.tokens import Purpose, Token, sign
from reawake.tracking import recording
from reawake_tools.lead_ids import _switch, migrate
from tests.conftest import SITE

Api = Callable[..., tuple[int, dict[str, str], bytes]]
EMAIL = "legacy.hanako@example.co.jp"
RANDOM_ID = re.compile(r"[a-z2-7]{20}")


def store() -> Store:
    return Store(os.environ["TABLE_NAME"])


def now_ms() -> int:
    return int(time.time() * 1000)


def key() -> bytes:
    return str(secret_json(os.environ["SIGNING_SECRET_ARN"])["signing_key"]).encode()


def profiles() -> list[Lead]:
    return list(store().scan_leads())


def view(event_id: str, visitor: str) -> dict[str, Any]:
    return {"id": event_id, "type": "page_view", "ts": now_ms(), "visitor_id": visitor, "url": f"{SITE}/product/"}


def legacy_data(api: Api) -> str:
    """A lead as the code before random ids wrote it: its id is the hash of its email; a browser
    linked to it with an anonymous view; its events; a step-mail enrollment item."""
    old = legacy_lead_id(EMAIL)
    db, settings = store(), get_settings()
    db.save_lead(Lead(lead_id=old, email=EMAIL, registered_at=now_ms() - 400 * 86_400_000, name="山田 花子"), None)
    api("POST", "/v1/events", [view("legacy-v001", "browser-1")])
    recording.link(db, settings, "browser-1", old, now_ms())
    recording.record(db, settings, [Event(id="legacy-e001", kind="webinar_view", ts=now_ms(), source="activity",
                                         lead_id=old)], now_ms())
    db.client.put_item(TableName=db.table_name, Item=serialize(
        {"pk": f"LEAD#{old}", "sk": "ENROLL#webinar-invite", "lead_id": old, "sequence": "webinar-invite",
         "status": "active", "message": f"webinar-invite:0:{old}:1"}))
    return old


# --- one lead per email -----------------------------------------------------------------------


def test_a_new_lead_gets_a_random_id_found_by_its_email(api: Api) -> None:
    assert api("POST", "/v1/identify", {"visitor_id": "browser-9", "email": "new.taro@example.co.jp"})[0] == 200
    lead_id = store().lead_id_of("new.taro@example.co.jp")
    assert lead_id is not None and RANDOM_ID.fullmatch(lead_id)
    assert lead_id != legacy_lead_id("new.taro@example.co.jp")
    assert store().lead_id_of("someone.else@example.co.jp") is None  # control


def test_two_first_sightings_of_one_email_at_once_make_one_lead(aws: Any) -> None:
    """Both looked the email up and found nothing; both claim it: the conditional write of the
    email item lets one id win, and the loser creates nothing of its own."""
    email = "race@example.co.jp"
    first, second = Store(os.environ["TABLE_NAME"]), Store(os.environ["TABLE_NAME"])
    ids = {first.claim_lead_id(email, looked_up=True), second.claim_lead_id(email, looked_up=True)}
    assert len(ids) == 1
    leads = {recording.ensure_lead(db, email, now_ms(), source="form").lead_id for db in (first, second)}
    assert leads == ids
    assert [lead.email for lead in profiles()] == [email]


def test_before_the_migration_the_old_lead_is_still_found_by_its_email(api: Api) -> None:
    old = legacy_data(api)
    assert store().lead_id_of(EMAIL) == old
    assert api("POST", "/v1/identify", {"visitor_id": "browser-2", "email": EMAIL})[0] == 200
    assert [lead.lead_id for lead in profiles()] == [old], "no second lead for the same email"


# --- the migration ----------------------------------------------------------------------------


def test_the_migration_moves_everything_and_links_in_sent_mail_keep_working(api: Api) -> None:
    old = legacy_data(api)
    before = store().get_lead(old)
    assert before is not None and before.last.get("webinar_view")
    # Links in mail sent before the migration carry the old id.
    click = sign(Token(Purpose.CLICK, old, now_ms() // 1000 + 86_400, target=f"{SITE}/seminar/", message_id="m:0"),
                 key())
    unsubscribe = sign(Token(Purpose.UNSUBSCRIBE, old, now_ms() // 1000 + 86_400), key())

    report = migrate(store())
    assert (report.moved, report.unchanged, report.conflicts) == (1, 0, 0)

    new = store().lead_id_of(EMAIL)
    assert new is not None and new != old and RANDOM_ID.fullmatch(new)
    (lead,) = profiles()
    assert lead.lead_id == new
    assert dataclasses.replace(lead, lead_id=old) == before, "the profile and its aggregates carried over whole"
    assert {e.id for e in store().lead_events(new)} == {"legacy-e001"}
    assert all(e.lead_id == new for e in store().lead_events(new))
    assert store().get_visitor_lead("browser-1") == new
    assert store().lead_visitors(new) == ["browser-1"]
    enrollment = store().client.get_item(TableName=store().table_name,
                                         Key={"pk": {"S": f"LEAD#{new}"}, "sk": {"S": "ENROLL#webinar-invite"}})
    assert enrollment["Item"]["lead_id"]["S"] == new
    assert enrollment["Item"]["message"]["S"] == f"webinar-invite:0:{old}:1", "ids of sent mail stay as sent"
    assert [i["sk"]["S"] for i in store().query_items(f"LEAD#{old}", "")] == ["MOVED"]

    # The old click link still records on the lead and lands identified.
    status, headers, _ = api("GET", f"/v1/click/{click}")
    assert status == 302 and "rw_id=" in headers["location"]
    assert "email_click" in {e.kind for e in store().lead_events(new)}
    rw_id = headers["location"].split("rw_id=")[1]
    assert api("POST", "/v1/identify", {"visitor_id": "browser-3", "token": rw_id})[0] == 200
    assert store().get_visitor_lead("browser-3") == new
    # The linked browser's next view goes to the lead under its new id.
    api("POST", "/v1/events", [view("legacy-v002", "browser-1")])
    assert "legacy-v002" in {e.id for e in store().lead_events(new)}
    # The old unsubscribe link still unsubscribes.
    assert api("POST", f"/v1/unsubscribe/{unsubscribe}", b"List-Unsubscribe=One-Click")[0] == 200
    after = store().get_lead(new)
    assert after is not None and after.suppressed == "unsubscribe"
    assert len(profiles()) == 1
    assert not list(store().query_items(f"LEAD#{old}", "EV#")), "nothing recorded under the old id"

    again = migrate(store())
    assert (again.moved, again.finished, again.unchanged) == (0, 0, 1), "re-running changes nothing"
    assert store().lead_id_of(EMAIL) == new


def test_a_migration_interrupted_after_the_switch_is_finished_by_the_next_run(api: Api) -> None:
    old = legacy_data(api)
    lead = store().get_lead(old)
    assert lead is not None
    new = _switch(store(), lead)  # then the process died: the browser still points at the old id
    assert new is not None
    assert store().get_visitor_lead("browser-1") == old
    api("POST", "/v1/events", [view("legacy-v003", "browser-1")])  # traffic meanwhile
    assert "legacy-v003" in {e.id for e in store().lead_events(new)}

    report = migrate(store())
    assert (report.moved, report.finished) == (0, 1)
    assert store().get_visitor_lead("browser-1") == new
    assert [i["sk"]["S"] for i in store().query_items(f"LEAD#{old}", "")] == ["MOVED"]


def test_copied_events_do_not_alert_again(api: Api) -> None:
    """The revisit alert listens for new events on the stream: the migration's copies are marked."""
    from reawake.alerts.entry import event_of

    old = legacy_data(api)
    revisit = Event(id="legacy-r001", kind="page_view", ts=now_ms(), source="browser", lead_id=old,
                    url=f"{SITE}/", revisit=True)
    store().commit([revisit], now_ms() // 1000 + 86_400)
    migrate(store())
    new = store().lead_id_of(EMAIL)
    item = store().client.get_item(TableName=store().table_name,
                                   Key={"pk": {"S": f"LEAD#{new}"}, "sk": {"S": "EV#legacy-r001"}})["Item"]
    assert item["revisit"] == {"BOOL": True}
    assert event_of({"eventName": "INSERT", "dynamodb": {"NewImage": item}}) is None
    fresh = {k: v for k, v in item.items() if k != "moved_from"}
    assert event_of({"eventName": "INSERT", "dynamodb": {"NewImage": fresh}}) is not None  # control
    assert json.loads(json.dumps(item))  # plain DynamoDB JSON
