"""Unlink and "remove from CRM" for meetings the sync saved (issue 12): through the API (the
pane opens on messages only), done in the CRM, audited; a removed meeting's ledger row says
"removed" and no sync saves it again: not its later updates, not another attendee's copy in
the organisation — as for a removed email. The sync runs for real (sandbox Graph, RQ jobs)."""

from __future__ import annotations

import pytest
from sqlalchemy import select

from server.auth.sessions import issue_session
from server.crm.base import RecordRef
from server.crm.builtin.adapter import BuiltinCRM
from server.models.admin import AuditEvent
from server.models.ledger import LedgerEntry
from server.models.sync import CalendarEventKey, SyncSession
from server.sandbox.directory import DEMO_USERS
from server.sync.jobs import enqueue_session
from tests.integration.sync_helpers import FAST_RETRIES, configure_mailboxes, signed_in_user
from tests.integration.test_sync_session import _event_ids

ALEX, BIANCA = DEMO_USERS[0], DEMO_USERS[1]


@pytest.fixture
def app_config(sandbox):
    return {**sandbox.settings(), **FAST_RETRIES}


def _sync(db, user, run_jobs) -> SyncSession:
    enqueue_session(user.id, "now")
    run_jobs()
    db.expire_all()
    session = db.scalars(
        select(SyncSession).where(SyncSession.user_id == user.id).order_by(SyncSession.id.desc())
    ).first()
    assert session.status == "succeeded", session.error
    return session


def _entry(db, key: str) -> LedgerEntry:
    db.expire_all()
    return db.scalar(select(LedgerEntry).where(LedgerEntry.item_key == key))


def test_a_removed_meeting_is_never_saved_again_by_any_attendees_sync(
    app, client, sandbox, db, run_jobs
):
    configure_mailboxes(sandbox, messages=0, events=4)
    alex = signed_in_user(client, sandbox, db, ALEX)
    client.get("/auth/signout")
    bianca = signed_in_user(client, sandbox, db, BIANCA)
    _sync(db, alex, run_jobs)  # Alex's sync saves the shared meeting; Bianca's has not run
    event_id = next(
        eid
        for eid, label in _event_ids(sandbox, ALEX)
        if label["outcome"] == "save" and label["kind"] == "shared" and not label["cancelled"]
    )
    key = db.scalar(
        select(CalendarEventKey.item_key).where(
            CalendarEventKey.user_id == alex.id, CalendarEventKey.event_id == event_id
        )
    )
    entry = _entry(db, key)
    assert (entry.kind, entry.status) == ("meeting", "saved")
    crm = BuiltinCRM(db, alex.org_id)
    headers = {"Authorization": f"Bearer {issue_session(alex)}"}

    state = client.post("/api/meetings/state", json={"event_id": event_id}, headers=headers)
    assert state.status_code == 200 and state.get_json()["status"] == "saved"
    person = next(
        RecordRef(d["type"], str(d["id"])) for d in entry.links if d["type"] in ("contact", "lead")
    )

    # Unlink a person: gone in the CRM, the ledger holds what the CRM holds, audited.
    answer = client.post(
        "/api/meetings/unlink",
        json={"event_id": event_id, "links": [person.as_dict()]},
        headers=headers,
    )
    assert answer.status_code == 200, answer.get_json()
    held = {(link.ref.type, link.ref.id) for link in crm.find_activities([key])[key].links}
    assert (person.type, person.id) not in held
    assert {(d["type"], str(d["id"])) for d in answer.get_json()["links"]} == held

    # Remove from CRM: deleted there, the row says "removed", audited.
    answer = client.post("/api/meetings/remove", json={"event_id": event_id}, headers=headers)
    assert answer.status_code == 200, answer.get_json()
    assert answer.get_json()["status"] == "removed"
    assert crm.find_activities([key]) == {}
    assert _entry(db, key).status == "removed"
    audit = {
        a.action: a for a in db.scalars(select(AuditEvent).where(AuditEvent.target == key)).all()
    }
    assert set(audit) == {"activity.unlinked", "activity.removed_from_crm"}
    assert all(a.target_type == "meeting" and a.actor_id == alex.id for a in audit.values())
    again = client.post("/api/meetings/remove", json={"event_id": event_id}, headers=headers)
    assert again.status_code == 409 and again.get_json()["error"] == "not_saved"
    unknown = client.post("/api/meetings/remove", json={"event_id": "AAMk-nope"}, headers=headers)
    assert unknown.status_code == 404 and unknown.get_json()["error"] == "unknown_meeting"
    bad = client.post("/api/meetings/unlink", json={"event_id": event_id}, headers=headers)
    assert bad.status_code == 400
    # Not in Bianca's calendar as far as Courier knows (her sync has not read it): hers to
    # change only once it is.
    hers = {"Authorization": f"Bearer {issue_session(bianca)}"}
    other = client.post("/api/meetings/remove", json={"event_id": event_id}, headers=hers)
    assert other.status_code == 404

    # A later update of the meeting, and the other attendee's copy: nothing saves it again.
    sandbox.control(
        f"/_sandbox/graph/users/{ALEX.object_id}/events/{event_id}/edit",
        {"subject": "Renamed after removal"},
    )
    alex_again = _sync(db, alex, run_jobs)
    assert alex_again.counts.get("removed_from_crm", 0) >= 1, alex_again.counts
    bianca_first = _sync(db, bianca, run_jobs)
    assert bianca_first.counts.get("removed_from_crm", 0) >= 1, bianca_first.counts
    assert crm.find_activities([key]) == {}
    assert _entry(db, key).status == "removed"
    state = client.post("/api/meetings/state", json={"event_id": event_id}, headers=headers)
    assert state.get_json()["status"] == "removed"
