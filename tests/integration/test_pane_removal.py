"""Unlink and "remove from CRM" (issue 12, complaint 21 of the research: users cannot remove
a wrongly captured email). A removed email is deleted in the CRM, audited, and never saved
again by the background sync, thread auto-save or the tick, only by the user's own save. The
sync runs for real (sandbox Graph, RQ jobs) after the removal, with its read state reset so
it reads the removed email again."""

from __future__ import annotations

import pytest
from sqlalchemy import delete, select

from server.auth.sessions import issue_session
from server.crm.base import RecordRef
from server.crm.builtin.adapter import BuiltinCRM
from server.models.admin import AuditEvent
from server.models.ledger import LedgerEntry
from server.models.sync import SyncSession, SyncState
from server.sandbox.directory import DEMO_USERS
from server.sync.jobs import enqueue_session
from tests.integration.sync_helpers import FAST_RETRIES, configure_mailboxes, signed_in_user

ALEX = DEMO_USERS[0]


@pytest.fixture
def app_config(sandbox):
    return {**sandbox.settings(), **FAST_RETRIES}


def _sync(db, user, run_jobs) -> SyncSession:
    enqueue_session(user.id, "now")
    run_jobs()
    db.expire_all()
    return db.scalars(
        select(SyncSession).where(SyncSession.user_id == user.id).order_by(SyncSession.id.desc())
    ).first()


def _item(entry: LedgerEntry) -> dict:
    sender, *others = entry.participants
    return {
        "subject": entry.subject,
        "from": {"address": sender},
        "to": [{"address": a} for a in others],
        "cc": [],
        "date": entry.item_at.isoformat(),
        "internet_message_id": entry.item_key,
        "conversation_id": entry.conversation_id,
        "item_id": "AAMk-removal",
    }


def _entry(db, key: str) -> LedgerEntry:
    db.expire_all()
    return db.scalar(select(LedgerEntry).where(LedgerEntry.item_key == key))


def test_a_removed_email_is_never_saved_again_but_by_the_users_own_save(
    app, client, sandbox, db, run_jobs
):
    configure_mailboxes(sandbox, messages=60, events=0)
    user = signed_in_user(client, sandbox, db, ALEX)
    first = _sync(db, user, run_jobs)
    assert first.status == "succeeded", first.error
    entry = db.scalars(
        select(LedgerEntry).where(
            LedgerEntry.user_id == user.id,
            LedgerEntry.kind == "email",
            LedgerEntry.status == "saved",
            LedgerEntry.conversation_id != "",
        )
    ).first()
    assert entry is not None, "the sync saved no email to remove"
    key, headers = entry.item_key, {"Authorization": f"Bearer {issue_session(user)}"}
    crm = BuiltinCRM(db, user.org_id)
    linked = [RecordRef(d["type"], str(d["id"])) for d in entry.links]

    # Unlink one record: gone in the CRM, and the saved state (the ticks) is what the CRM holds.
    person = next(r for r in linked if r.type in ("contact", "lead"))
    answer = client.post(
        "/api/saves/unlink",
        json={"item": _item(entry), "links": [person.as_dict()]},
        headers=headers,
    )
    assert answer.status_code == 200, answer.get_json()
    held = {(link.ref.type, link.ref.id) for link in crm.find_activities([key])[key].links}
    assert (person.type, person.id) not in held
    assert {(d["type"], str(d["id"])) for d in answer.get_json()["links"]} == held

    # Remove from CRM: deleted there, the row says "removed", the audit log has it.
    answer = client.post("/api/saves/remove", json={"item": _item(entry)}, headers=headers)
    assert answer.status_code == 200, answer.get_json()
    assert answer.get_json()["status"] == "removed"
    assert crm.find_activities([key]) == {}
    assert _entry(db, key).status == "removed"
    audit = db.scalars(
        select(AuditEvent).where(AuditEvent.action == "activity.removed_from_crm")
    ).all()
    assert [a.target for a in audit] == [key] and audit[0].actor_id == user.id
    again = client.post("/api/saves/remove", json={"item": _item(entry)}, headers=headers)
    assert again.status_code == 409 and again.get_json()["error"] == "not_saved"

    # Thread auto-save on for its conversation, the read state reset: the next session reads
    # the removed email again, and neither auto-save of all email nor the thread saves it.
    rule = client.put(
        "/api/threads",
        json={
            "conversation_id": entry.conversation_id,
            "enabled": True,
            "links": [person.as_dict()],
        },
        headers=headers,
    )
    assert rule.status_code == 200, rule.get_json()
    db.execute(delete(SyncState).where(SyncState.user_id == user.id))
    db.commit()
    second = _sync(db, user, run_jobs)
    assert second.status == "succeeded", second.error
    assert second.counts.get("removed_from_crm", 0) >= 1
    assert crm.find_activities([key]) == {}
    assert _entry(db, key).status == "removed"
    pane = client.post("/api/suggestions", json={"item": _item(entry)}, headers=headers)
    assert pane.get_json()["why"]["code"] == "removed_from_crm"

    # The user's own save brings it back.
    saved = client.post(
        "/api/saves", json={"item": _item(entry), "links": [person.as_dict()]}, headers=headers
    )
    assert saved.status_code == 201, saved.get_json()
    assert _entry(db, key).status == "saved"
    assert {link.ref for link in crm.find_activities([key])[key].links} >= {person}


def test_unlink_and_remove_need_a_saved_email(client, sandbox, db):
    configure_mailboxes(sandbox, messages=5, events=0)
    user = signed_in_user(client, sandbox, db, ALEX)
    headers = {"Authorization": f"Bearer {issue_session(user)}"}
    item = {
        "subject": "Never saved",
        "from": {"address": "someone@example.test"},
        "to": [{"address": ALEX.email}],
        "internet_message_id": "<never-saved@example.test>",
        "date": "2026-11-20T09:30:00Z",
    }
    ref = {"type": "contact", "id": "1"}
    unlink = client.post("/api/saves/unlink", json={"item": item, "links": [ref]}, headers=headers)
    assert unlink.status_code == 409 and unlink.get_json()["error"] == "not_saved"
    remove = client.post("/api/saves/remove", json={"item": item}, headers=headers)
    assert remove.status_code == 409 and remove.get_json()["error"] == "not_saved"
