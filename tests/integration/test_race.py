"""Exactly once under concurrency, with real worker processes: two users whose mailboxes share
1,000 emails and 50 meetings are synced at the same moment by two RQ worker processes, into
the built-in CRM and into Salesforce with either email key (an external-id field, or
MessageIdentifier: look up, then create). Every shared email and meeting ends in the CRM
once, with one saved ledger row."""

from __future__ import annotations

import time
from collections import Counter

import pytest
from sqlalchemy import select

from server.crm.salesforce.tokens import store_connection
from server.models.ledger import LedgerEntry
from server.models.sync import SyncSession
from tests.integration.race_scenario import (
    ALEX,
    BIANCA,
    builtin_counts,
    deliver_shared,
    deliver_shared_meetings,
    outcome,
    race,
    salesforce_counts,
)
from tests.integration.salesforce_harness import salesforce_settings
from tests.integration.sync_helpers import FAST_RETRIES, configure_mailboxes, signed_in_user
from tests.integration.worker_processes import (  # noqa: F401 (an autouse fixture)
    kill_leftover_workers,
    start_worker,
    worker_env,
)

SHARED_EMAILS = 1000
SHARED_MEETINGS = 50
TARGETS = {
    "builtin": {"CRM_ADAPTER": "builtin"},
    "salesforce-external-id": {"CRM_ADAPTER": "salesforce"},
    "salesforce-message-identifier": {
        "CRM_ADAPTER": "salesforce",
        "SALESFORCE_EMAIL_KEY_FIELD": "MessageIdentifier",
    },
}


@pytest.fixture(params=list(TARGETS))
def target(request) -> str:
    return request.param


@pytest.fixture
def app_config(sandbox, target):
    return {**salesforce_settings(sandbox), **FAST_RETRIES, **TARGETS[target]}


def _users(client, sandbox, db, target: str) -> list:
    if target != "builtin":
        sandbox.control("/_sandbox/salesforce/reset", {"seed_demo": True})
    users = []
    for person in (ALEX, BIANCA):
        user = signed_in_user(client, sandbox, db, person)
        client.get("/auth/signout")
        if target != "builtin":
            grant = sandbox.control("/_sandbox/salesforce/grants", {"username": person.email})
            store_connection(user, grant, person.email)
        users.append(user)
    return users


@pytest.mark.slow
def test_two_workers_syncing_a_shared_mailbox_save_each_email_once(
    app, client, sandbox, db, tmp_path, target
):
    configure_mailboxes(sandbox, messages=0, events=0)
    users = _users(client, sandbox, db, target)
    keys = deliver_shared(sandbox, SHARED_EMAILS, "t")
    meetings = deliver_shared_meetings(sandbox, SHARED_MEETINGS, "t")
    sessions = race(db, users, start_worker, worker_env(app, tmp_path))
    assert all(status == "succeeded" for status, _ in sessions), sessions
    org_id = users[0].org_id
    in_crm = (
        builtin_counts(db, org_id, [*keys, *meetings])
        if target == "builtin"
        else salesforce_counts(sandbox, keys, meetings)
    )
    result = outcome(db, org_id, keys, in_crm, sessions, meetings)
    assert result.checked == SHARED_EMAILS + SHARED_MEETINGS
    assert (result.duplicates, result.lost) == (0, 0), (
        result.line(),
        _ledger(db, [*keys, *meetings]),
        in_crm,
    )


def _ledger(db, keys: list[str]) -> Counter:
    rows = db.scalars(select(LedgerEntry).where(LedgerEntry.item_key.in_(keys)))
    return Counter((row.status, row.last_error[:80]) for row in rows)


PANE_EMAILS = 100


def _pane_item(key: str, sender: str, n: int) -> dict:
    return {
        "subject": f"Pane race {n}",
        "from": {"address": sender, "name": ""},
        "to": [{"address": ALEX.email, "name": ""}],
        "cc": [],
        "date": "2026-11-20T09:30:00Z",
        "internet_message_id": key,
        "conversation_id": f"conv-pane-race-{n}",
        "item_id": f"AAMk-pane-race-{n}",
        "body": "Racing the sync.",
    }


@pytest.mark.slow
def test_pane_saves_racing_the_background_sync_of_the_same_emails_save_each_once(
    app, client, sandbox, db, tmp_path, target, run_jobs
):
    """While a worker process syncs Alex's mailbox, the pane saves the same emails: each
    is written once; the pane's chosen contact is on it once the tick re-drove what waited."""
    from datetime import timedelta

    from server.auth.sessions import issue_session
    from server.crm import crm_for
    from server.pane.save_queue import requeue_pending_saves
    from server.sandbox.mailbox import linkable_contacts
    from server.sync.jobs import enqueue_session

    configure_mailboxes(sandbox, messages=0, events=0)
    alex = _users(client, sandbox, db, target)[0]
    contacts = linkable_contacts()
    senders = [contacts[n % len(contacts)].emails[0] for n in range(PANE_EMAILS)]
    keys = []
    for n, sender in enumerate(senders):
        key = f"<pane-race-{n}@example.test>"
        sandbox.control(
            f"/_sandbox/graph/users/{ALEX.object_id}/messages",
            {"internetMessageId": key, "from": sender, "to": [ALEX.email], "subject": f"R {n}"},
        )
        keys.append(key)
    found = crm_for(alex).find_people(sorted(set(senders)))
    refs = {
        a: next(p.ref.id for p in people if p.ref.type == "contact") for a, people in found.items()
    }
    headers = {"Authorization": f"Bearer {issue_session(alex)}"}
    db.commit()

    assert enqueue_session(alex.id, "now") is not None
    worker = start_worker(worker_env(app, tmp_path))
    answers = Counter()
    for n, (key, sender) in enumerate(zip(keys, senders, strict=True)):
        body = {
            "item": _pane_item(key, sender, n),
            "links": [{"type": "contact", "id": refs[sender]}],
        }
        answer = client.post("/api/saves", json=body, headers=headers)
        assert answer.status_code in (200, 201), answer.get_json()
        answers[answer.get_json()["status"]] += 1
    deadline = time.time() + 300
    while True:
        db.expire_all()
        session = db.scalar(select(SyncSession).where(SyncSession.user_id == alex.id))
        if session is not None and session.status != "running":
            break
        assert time.time() < deadline, "the sync session did not end"
        time.sleep(0.2)
    worker.kill()
    worker.wait(timeout=30)
    assert session.status == "succeeded", session.error
    requeue_pending_saves(older_than=timedelta(0))  # the tick: what waited is written now
    run_jobs()
    db.expire_all()
    in_crm = (
        builtin_counts(db, alex.org_id, keys)
        if target == "builtin"
        else salesforce_counts(sandbox, keys)
    )
    result = outcome(db, alex.org_id, keys, in_crm, [(session.status, session.error)])
    assert (result.duplicates, result.lost) == (0, 0), (result.line(), answers, _ledger(db, keys))
    waiting = db.scalars(
        select(LedgerEntry).where(
            LedgerEntry.item_key.in_(keys), LedgerEntry.pending_draft.is_not(None)
        )
    ).all()
    assert waiting == []  # every joined link was written
