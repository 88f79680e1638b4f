"""Thread auto-save covers the whole thread (issue 12): switching it on saves the emails of the
conversation already in the mailbox — read through Graph's conversationId filter, within the
history window, in the folders the sync reads — through the activity writer, exactly once,
also while the background sync runs in another process."""

from __future__ import annotations

import time
from collections import Counter
from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import select

from server.auth.sessions import issue_session
from server.crm import crm_for
from server.models.ledger import LedgerEntry, ThreadRule
from server.models.sync import SyncSession
from server.policy import update_user_policy
from server.sandbox.directory import DEMO_USERS
from server.sandbox.mailbox import linkable_contacts
from server.sync.jobs import enqueue_session
from tests.integration.race_scenario import builtin_counts, outcome, salesforce_counts
from tests.integration.salesforce_harness import salesforce_settings
from tests.integration.sync_helpers import FAST_RETRIES, configure_mailboxes, signed_in_user
from tests.integration.worker_processes import (  # noqa: F401 (an autouse fixture)
    kill_leftover_workers,
    start_worker,
    worker_env,
)

ALEX = DEMO_USERS[0]


@pytest.fixture(params=["builtin", "salesforce"])
def target(request) -> str:
    return request.param


@pytest.fixture
def app_config(sandbox, target):
    return {**salesforce_settings(sandbox), **FAST_RETRIES, "CRM_ADAPTER": target}


def _alex(client, sandbox, db, target):
    from server.crm.salesforce.tokens import store_connection

    if target != "builtin":
        sandbox.control("/_sandbox/salesforce/reset", {"seed_demo": True})
    user = signed_in_user(client, sandbox, db, ALEX)
    client.get("/auth/signout")
    if target != "builtin":
        grant = sandbox.control("/_sandbox/salesforce/grants", {"username": ALEX.email})
        store_connection(user, grant, ALEX.email)
    # Only what the user asks for is saved: threads switched on, or by hand.
    update_user_policy(user, {"auto_save": "threads", "history_days": 30})
    db.commit()
    return user


def _deliver(sandbox, conversation: str, sender: str, tag: str, **extra) -> str:
    key = f"<{tag}@thread.example.test>"
    sandbox.control(
        f"/_sandbox/graph/users/{ALEX.object_id}/messages",
        {
            "internetMessageId": key,
            "conversationId": conversation,
            "from": sender,
            "to": [ALEX.email],
            "subject": f"RE: {conversation}",
            "notify": False,
            **extra,
        },
    )
    return key


def _pane_item(key: str, sender: str, conversation: str) -> dict:
    return {
        "subject": conversation,
        "from": {"address": sender, "name": ""},
        "to": [{"address": ALEX.email, "name": ""}],
        "cc": [],
        "date": datetime.now(UTC).isoformat(),
        "internet_message_id": key,
        "conversation_id": conversation,
        "item_id": f"AAMk-{conversation}",
        "body": "The first email of the thread.",
    }


def _rows(db, keys: list[str]) -> dict[str, LedgerEntry]:
    db.expire_all()
    found = db.scalars(select(LedgerEntry).where(LedgerEntry.item_key.in_(keys)))
    return {row.item_key: row for row in found}


def _in_crm(db, sandbox, target, org_id, keys) -> Counter:
    if target == "builtin":
        return builtin_counts(db, org_id, keys)
    return salesforce_counts(sandbox, keys)


def test_switching_on_saves_the_replies_already_in_the_mailbox(
    app, client, sandbox, db, target, run_jobs
):
    configure_mailboxes(sandbox, messages=0, events=0)
    alex = _alex(client, sandbox, db, target)
    sender = linkable_contacts()[0].emails[0]
    conversation = "AAQkThreadBackfill+/=='quoted'"  # Graph's ids carry +, /, = (and quotes)
    old = (datetime.now(UTC) - timedelta(days=40)).strftime("%Y-%m-%dT%H:%M:%SZ")
    first = _deliver(sandbox, conversation, sender, "first")
    replies = [_deliver(sandbox, conversation, sender, f"reply-{n}") for n in range(3)]
    deleted = _deliver(sandbox, conversation, sender, "deleted", folder="deleteditems")
    too_old = _deliver(sandbox, conversation, sender, "old", receivedDateTime=old)
    other = _deliver(sandbox, "AAQkAnotherThread", sender, "other")
    assert enqueue_session(alex.id, "now") is not None
    run_jobs()  # the first sync: nothing is auto-saved yet
    keys = [first, *replies, deleted, too_old, other]
    assert _rows(db, keys) == {}

    person = crm_for(alex).find_people([sender])[sender][0]
    answer = client.post(
        "/api/saves",
        json={
            "item": _pane_item(first, sender, conversation),
            "links": [{"type": person.ref.type, "id": person.ref.id}],
            "auto_save_thread": True,
        },
        headers={"Authorization": f"Bearer {issue_session(alex)}"},
    )
    assert answer.status_code == 201, answer.get_json()
    run_jobs()  # switching it on asked for a session, which reads the thread

    rows = _rows(db, keys)
    assert {k: (r.status, r.source) for k, r in rows.items()} == {
        first: ("saved", "manual"),
        **{key: ("saved", "thread") for key in replies},
    }
    for key in replies:
        assert {(d["type"], d["id"]) for d in rows[key].links} >= {(person.ref.type, person.ref.id)}
    assert _in_crm(db, sandbox, target, alex.org_id, keys) == Counter(dict.fromkeys(rows, 1))
    rule = db.scalar(select(ThreadRule).where(ThreadRule.conversation_id == conversation))
    assert rule.backfilled_at is not None
    session = db.scalars(select(SyncSession).order_by(SyncSession.id.desc())).first()
    assert session.trigger == "thread" and session.status == "succeeded", session.error
    assert session.counts.get("thread_other_folder") == 1  # the deleted one

    # The thread is read once: the next session neither reads it nor saves anything again.
    assert enqueue_session(alex.id, "now") is not None
    run_jobs()
    assert len(_rows(db, keys)) == 4
    assert _in_crm(db, sandbox, target, alex.org_id, keys) == Counter(dict.fromkeys(rows, 1))


CONVERSATIONS = 25


@pytest.mark.slow
def test_ticking_threads_while_the_sync_runs_saves_each_email_once(
    app, client, sandbox, db, tmp_path, target, run_jobs
):
    """A worker process syncs Alex's mailbox while the pane saves the first email of each
    conversation with "auto-save this thread" ticked: every email of every thread — the
    first and its three replies already in the mailbox — ends in the CRM once."""
    from datetime import timedelta as delta

    from server.pane.save_queue import requeue_pending_saves

    configure_mailboxes(sandbox, messages=0, events=0)
    alex = _alex(client, sandbox, db, target)
    contacts = linkable_contacts()
    threads = []
    for n in range(CONVERSATIONS):
        sender = contacts[n % len(contacts)].emails[0]
        conversation = f"AAQkRace{n}"
        keys = [_deliver(sandbox, conversation, sender, f"race-{n}-{m}") for m in range(4)]
        threads.append((conversation, sender, keys))
    senders = sorted({s for _, s, _ in threads})
    found = crm_for(alex).find_people(senders)
    headers = {"Authorization": f"Bearer {issue_session(alex)}"}
    db.commit()

    assert enqueue_session(alex.id, "now") is not None
    env = worker_env(app, tmp_path)
    worker = start_worker(env)
    for conversation, sender, keys in threads:
        person = found[sender][0]
        answer = client.post(
            "/api/saves",
            json={
                "item": _pane_item(keys[0], sender, conversation),
                "links": [{"type": person.ref.type, "id": person.ref.id}],
                "auto_save_thread": True,
            },
            headers=headers,
        )
        assert answer.status_code in (200, 201), answer.get_json()
    # Sessions run until every rule has been read (a rule ticked while a session ran is read
    # by that session's next pass or by the session the tick asked for).
    deadline = time.time() + 300
    while True:
        db.expire_all()
        running = db.scalar(
            select(SyncSession).where(
                SyncSession.user_id == alex.id, SyncSession.status == "running"
            )
        )
        waiting = db.scalars(select(ThreadRule).where(ThreadRule.backfilled_at.is_(None))).all()
        if running is None and not waiting:
            break
        if running is None:
            enqueue_session(alex.id, "now")  # the worker picks it up
        assert time.time() < deadline, "the threads were not read"
        time.sleep(0.2)
    worker.kill()
    worker.wait(timeout=30)
    sessions = [(s.status, s.error) for s in db.scalars(select(SyncSession))]
    assert all(status == "succeeded" for status, _ in sessions), sessions
    requeue_pending_saves(older_than=delta(0))
    run_jobs()
    db.expire_all()
    keys = [k for _, _, ks in threads for k in ks]
    in_crm = _in_crm(db, sandbox, target, alex.org_id, keys)
    result = outcome(db, alex.org_id, keys, in_crm, sessions)
    assert (result.duplicates, result.lost) == (0, 0), result.line()


def test_unlinking_a_record_takes_it_out_of_the_threads_auto_save(
    app, client, sandbox, db, target, run_jobs
):
    """Unlink follows through to thread auto-save: after the user unlinks a record from a saved
    email, the thread's later emails (saved by a real sync session) are linked to what the
    user left linked, not to the record they took away."""
    configure_mailboxes(sandbox, messages=0, events=0)
    alex = _alex(client, sandbox, db, target)
    sender, colleague = (c.emails[0] for c in linkable_contacts()[:2])
    conversation = "AAQkUnlinkFollows"
    headers = {"Authorization": f"Bearer {issue_session(alex)}"}
    first = _deliver(sandbox, conversation, sender, "unlink-first", cc=[colleague])
    found = crm_for(alex).find_people([sender, colleague])
    keep, drop = found[sender][0].ref, found[colleague][0].ref
    item = {**_pane_item(first, sender, conversation), "cc": [{"address": colleague}]}
    answer = client.post(
        "/api/saves",
        json={"item": item, "links": [keep.as_dict(), drop.as_dict()], "auto_save_thread": True},
        headers=headers,
    )
    assert answer.status_code == 201, answer.get_json()
    run_jobs()

    answer = client.post(
        "/api/saves/unlink", json={"item": item, "links": [drop.as_dict()]}, headers=headers
    )
    assert answer.status_code == 200, answer.get_json()
    unlinked = answer.get_json()

    later = _deliver(sandbox, conversation, sender, "unlink-later", cc=[colleague])
    assert enqueue_session(alex.id, "now") is not None
    run_jobs()
    row = _rows(db, [later])[later]
    assert (row.status, row.source) == ("saved", "thread")
    linked = {(d["type"], str(d["id"])) for d in row.links}
    assert (keep.type, keep.id) in linked and (drop.type, drop.id) not in linked
    held = crm_for(alex).find_activities([later])[later]
    assert (drop.type, drop.id) not in {(link.ref.type, link.ref.id) for link in held.links}
    # The pane is told what the thread now saves to.
    assert unlinked.get("thread") == {
        "conversation_id": conversation,
        "auto_save": True,
        "links": [keep.as_dict()],
    }
