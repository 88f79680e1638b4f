"""Items that several users of one organisation see: one CRM activity each, with every
user's matched people, and calendar removals mapped back to the meeting."""

from __future__ import annotations

import pytest
from sqlalchemy import select

from server.models.ledger import LedgerEntry
from server.policy import update_user_policy
from server.sandbox.directory import DEMO_USERS
from server.sandbox.mailbox import account_name, linkable_contacts
from server.sync.jobs import enqueue_session
from tests.integration.sync_helpers import (
    FAST_RETRIES,
    assert_crm_matches,
    configure_mailboxes,
    crm_state,
    expected_from,
    labels_of,
    signed_in_user,
)
from tests.integration.test_sync_session import _event_ids

ALEX, BIANCA = DEMO_USERS[0], DEMO_USERS[1]


@pytest.fixture
def app_config(sandbox):
    return {**sandbox.settings(), **FAST_RETRIES}


def _deliver(sandbox, person, mid: str, sender: str, to: list[str], cc: list[str]) -> None:
    sandbox.control(
        f"/_sandbox/graph/users/{person.object_id}/messages",
        {"internetMessageId": mid, "from": sender, "to": to, "cc": cc, "subject": "Renewal"},
    )


def test_an_email_saved_from_another_mailbox_gains_the_second_users_links(
    app, client, sandbox, db, run_jobs
):
    configure_mailboxes(sandbox, messages=20, events=0)
    alex = signed_in_user(client, sandbox, db, ALEX)
    client.get("/auth/signout")
    bianca = signed_in_user(client, sandbox, db, BIANCA)
    first, second = linkable_contacts()[0], linkable_contacts()[1]
    # Alex never links the second contact (his own blocklist); Bianca does.
    update_user_policy(alex, {"blocked_addresses": [second.emails[0]]})
    mid = "<shared-renewal-1@example.test>"
    for person in (ALEX, BIANCA):
        _deliver(
            sandbox, person, mid, first.emails[0], [ALEX.email, BIANCA.email], [second.emails[0]]
        )
    enqueue_session(alex.id)
    run_jobs()
    db.expire_all()
    assert [first.emails[0]] == [next(iter(p)) for p in crm_state(db, alex.org_id)[mid]["people"]]

    enqueue_session(bianca.id)
    run_jobs()
    db.expire_all()
    saved = crm_state(db, alex.org_id)[mid]
    people = sorted(next(iter(p & {first.emails[0], second.emails[0]})) for p in saved["people"])
    assert people == sorted([first.emails[0], second.emails[0]])
    assert saved["accounts"] == {account_name(first), account_name(second)}
    rows = list(db.scalars(select(LedgerEntry).where(LedgerEntry.item_key == mid)))
    assert len(rows) == 1 and rows[0].user_id == alex.id
    ledger_links = {(link["type"], str(link["id"])) for link in rows[0].links}
    assert ledger_links == {(kind, str(rid)) for kind, rid in saved["records"]}


def _delete_event(sandbox, person, kind: str) -> str:
    """Delete a saved meeting of this kind from the person's calendar; its iCalUId."""
    event_id, label = next(
        (eid, label)
        for eid, label in _event_ids(sandbox, person)
        if label["outcome"] == "save" and label["kind"] == kind and not label["cancelled"]
    )
    answer = sandbox.control(f"/_sandbox/graph/users/{person.object_id}/events/{event_id}/delete")
    assert answer["label"]["subject"] == label["subject"]
    return label["subject"]


def test_a_meeting_deleted_from_the_calendar_is_marked_cancelled_in_the_crm(
    app, client, sandbox, db, run_jobs
):
    configure_mailboxes(sandbox, messages=20, events=12)
    user = signed_in_user(client, sandbox, db, ALEX)
    enqueue_session(user.id)
    run_jobs()
    subject = _delete_event(sandbox, ALEX, "external")
    enqueue_session(user.id, "now")
    run_jobs()
    db.expire_all()
    expected = expected_from(labels_of(sandbox, ALEX))
    removed = [uid for uid, label in expected.meetings.items() if label.get("removed")]
    assert len(removed) == 1 and expected.meetings[removed[0]]["subject"] == subject
    assert crm_state(db, user.org_id)[removed[0]]["cancelled"] is True
    assert_crm_matches(db, user.org_id, expected)


def test_a_shared_meeting_one_attendee_deletes_stays_as_it_was(app, client, sandbox, db, run_jobs):
    configure_mailboxes(sandbox, messages=20, events=4)
    alex = signed_in_user(client, sandbox, db, ALEX)
    client.get("/auth/signout")
    bianca = signed_in_user(client, sandbox, db, BIANCA)
    for user in (alex, bianca):
        enqueue_session(user.id)
    run_jobs()
    _delete_event(sandbox, BIANCA, "shared")
    enqueue_session(bianca.id, "now")
    run_jobs()
    db.expire_all()
    expected = expected_from(labels_of(sandbox, ALEX), labels_of(sandbox, BIANCA))
    state = crm_state(db, alex.org_id)
    removed = [
        uid for uid, label in labels_of(sandbox, BIANCA)["events"].items() if label.get("removed")
    ]
    assert len(removed) == 1 and state[removed[0]]["cancelled"] is False
    assert_crm_matches(db, alex.org_id, expected)


def test_a_meeting_moved_out_of_the_window_is_updated_not_cancelled(
    app, client, sandbox, db, run_jobs
):
    """Graph reports an event moved out of the calendar view as removed: the session looks
    it up, finds it still there and saves its new time instead of cancelling it."""
    configure_mailboxes(sandbox, messages=20, events=12)
    user = signed_in_user(client, sandbox, db, ALEX)
    enqueue_session(user.id)
    run_jobs()
    event_id, label = next(
        (eid, label)
        for eid, label in _event_ids(sandbox, ALEX)
        if label["outcome"] == "save" and label["kind"] == "external" and not label["cancelled"]
    )
    sandbox.control(
        f"/_sandbox/graph/users/{ALEX.object_id}/events/{event_id}/move", {"hours": 24 * 400}
    )
    enqueue_session(user.id, "now")
    run_jobs()
    db.expire_all()
    expected = expected_from(labels_of(sandbox, ALEX))
    moved = next(uid for uid, lb in expected.meetings.items() if lb["subject"] == label["subject"])
    assert crm_state(db, user.org_id)[moved]["cancelled"] is False
    assert_crm_matches(db, user.org_id, expected)  # the new start included
