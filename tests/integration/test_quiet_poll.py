"""Quiet polls (server/sync/quiet_poll.py): a watched mailbox's safety poll, many mailboxes to
a job. One `$batch` per mailbox and nothing else when nothing changed; anything else handed to
a normal session, which does the work; a delta link moved only from the link the poll read."""

from __future__ import annotations

from datetime import timedelta

import pytest
from sqlalchemy import select, update

from server.db import utcnow
from server.metrics import render
from server.models.ledger import LedgerEntry, ThreadRule
from server.models.sync import GraphSubscription, SyncSession, SyncState
from server.models.sync_summary import UserSyncSummary
from server.models.tenancy import User
from server.queues import enqueue_many, job_data
from server.sandbox.directory import DEMO_USERS
from server.sync.jobs import enqueue_session
from server.sync.quiet_poll import (
    FOUND_TRIGGER,
    POLL_TRIGGER,
    _move_link_statement,
    enqueue_quiet_polls,
)
from server.sync.scheduler import plan_tick, schedule_tick
from tests.integration.fleet_helpers import counted_statements
from tests.integration.sync_helpers import (
    assert_crm_matches,
    configure_mailboxes,
    expected_from,
    labels_of,
    signed_in_user,
)
from tests.integration.webhook_helpers import webhooks_config
from tests.integration.worker_processes import (  # noqa: F401 (an autouse fixture)
    kill_leftover_workers,
    start_worker,
    stop_workers,
    wait_for_result,
    wait_for_workers,
    worker_env,
    worker_log,
)

ALEX = DEMO_USERS[0]
# One idle mailbox's quiet poll: users, states, thread rules, policy, token row, links moved,
# session row, the summary's read and its upsert.
QUIET_STATEMENTS = 9
SLOW_MS = 700  # each Graph request: the poll and the session overlap by far


@pytest.fixture
def app_config(sandbox):
    return webhooks_config(sandbox)


def _watched(client, sandbox, db, run_jobs) -> User:
    """Alex's mailbox after its first session: synced, subscribed, nothing new."""
    configure_mailboxes(sandbox, messages=30, events=3)
    user = signed_in_user(client, sandbox, db, ALEX)
    enqueue_session(user.id)
    assert run_jobs() == 1
    assert len(db.scalars(select(GraphSubscription)).all()) == 2
    return user


def _sessions(db, user) -> list[SyncSession]:
    db.expire_all()
    return list(
        db.scalars(
            select(SyncSession).where(SyncSession.user_id == user.id).order_by(SyncSession.id)
        )
    )


def _links(db, user) -> dict[str, str]:
    db.expire_all()
    states = db.scalars(select(SyncState).where(SyncState.user_id == user.id))
    return {s.folder: s.resume_link for s in states}


def _new_mail(sandbox) -> None:
    """An email whose change notification Graph never delivered: the safety poll's case."""
    sandbox.control(f"/_sandbox/graph/users/{ALEX.object_id}/messages", {"notify": False})


def test_an_idle_watched_mailbox_costs_one_batch_and_is_recorded_as_its_session(
    app, client, sandbox, db, run_jobs, served
):
    user = _watched(client, sandbox, db, run_jobs)
    sandbox.control("/_sandbox/graph/stats/reset")
    enqueue_quiet_polls([user.id])
    assert run_jobs() == 1  # the poll, and no session after it
    served_kinds = sandbox.control("/_sandbox/graph/stats", method="GET")["by_kind"]
    # One HTTP call: the $batch of the three folders' and the calendar's delta requests.
    assert served_kinds == {"batch": 1, "message_delta": 3, "calendar_delta": 1}, served_kinds
    last = _sessions(db, user)[-1]
    assert (last.status, last.trigger, last.items_read, last.graph_requests) == (
        "succeeded",
        POLL_TRIGGER,
        0,
        1,
    )
    assert last.finished_at is not None and last.worker
    summary = db.get(UserSyncSummary, user.id)
    assert summary.last_session_id == last.id and summary.last_success_at == last.finished_at
    assert 'courier_quiet_polls_total{outcome="nothing_new"} 1.0' in render().decode()
    # The moved links still read what comes next.
    _new_mail(sandbox)
    enqueue_session(user.id)
    run_jobs()
    assert_crm_matches(db, user.org_id, expected_from(labels_of(sandbox, ALEX)))


def test_mail_a_notification_missed_is_handed_to_a_session_that_saves_it(
    app, client, sandbox, db, run_jobs, served
):
    user = _watched(client, sandbox, db, run_jobs)
    before = _links(db, user)
    _new_mail(sandbox)
    enqueue_quiet_polls([user.id])
    assert run_jobs() == 2  # the poll, then the session it handed the mailbox to
    handed = _sessions(db, user)[-1]
    assert (handed.trigger, handed.status, handed.items_read > 0) == (
        FOUND_TRIGGER,
        "succeeded",
        True,
    )
    # The poll itself recorded nothing and moved no link: the session read from the old one.
    assert [s.trigger for s in _sessions(db, user)] == ["schedule", FOUND_TRIGGER]
    assert _links(db, user)["inbox"] != before["inbox"]
    assert 'courier_quiet_polls_total{outcome="found"} 1.0' in render().decode()
    assert_crm_matches(db, user.org_id, expected_from(labels_of(sandbox, ALEX)))


def test_what_a_poll_cannot_vouch_for_goes_to_a_session(app, client, sandbox, db, run_jobs, served):
    """A thread to back-fill, a sync switched off and a refused token: each mailbox is
    handed to the session the poll stood in for (among the polls, not ahead of fresh mail),
    which records what happened; the poll writes nothing for it."""
    user = _watched(client, sandbox, db, run_jobs)
    first = len(_sessions(db, user))
    db.add(ThreadRule(org_id=user.org_id, user_id=user.id, conversation_id="c-1", enabled=True))
    db.commit()
    enqueue_quiet_polls([user.id])
    run_jobs()
    assert [s.trigger for s in _sessions(db, user)[first:]] == ["schedule"]

    db.execute(update(User).where(User.id == user.id).values(sync_enabled=False))
    db.commit()
    enqueue_quiet_polls([user.id])
    run_jobs()
    last = _sessions(db, user)[-1]
    assert (last.trigger, last.status) == ("schedule", "disabled")

    db.execute(update(User).where(User.id == user.id).values(sync_enabled=True))
    db.commit()
    sandbox.control("/_sandbox/identity/expire-access-tokens")
    sandbox.control(
        "/_sandbox/identity/revoke-grant",
        {"tenant_id": ALEX.tenant_id, "object_id": ALEX.object_id},
    )
    enqueue_quiet_polls([user.id])
    run_jobs()
    last = _sessions(db, user)[-1]
    assert (last.trigger, last.status) == ("schedule", "needs_reauth")


def test_a_group_of_mailboxes_shares_its_reads_and_its_write(
    app, client, sandbox, db, run_jobs, served
):
    """Polling one more mailbox in the same job costs two statements (its policy and its
    token's row): the users, folder states, thread rules, the links' moves, the session rows
    and the summaries are one statement each for the whole group."""
    alex = _watched(client, sandbox, db, run_jobs)
    blake = signed_in_user(client, sandbox, db, DEMO_USERS[1])
    enqueue_session(blake.id)
    run_jobs()
    counts = []
    for group in ([alex.id], [alex.id, blake.id]):
        first = max(s.id for s in _sessions(db, alex) + _sessions(db, blake))
        with counted_statements() as statements:
            enqueue_many([job_data("server.sync.quiet_poll.poll_quietly", group)])
            assert run_jobs() == 1
        counts.append(len(statements))
        db.expire_all()
        polled = db.scalars(select(SyncSession).where(SyncSession.id > first)).all()
        assert sorted(s.user_id for s in polled) == sorted(group)
        assert {(s.status, s.graph_requests) for s in polled} == {("succeeded", 1)}
    assert counts[0] <= QUIET_STATEMENTS, counts
    assert counts[1] - counts[0] == 2, counts


def test_a_link_moves_only_from_the_one_the_poll_read(app, client, sandbox, db, run_jobs):
    """The compare-and-set a poll writes with: a session that moved the link meanwhile keeps
    its own."""
    configure_mailboxes(sandbox, messages=5, events=0)
    user = signed_in_user(client, sandbox, db, ALEX)
    enqueue_session(user.id)
    run_jobs()
    state = db.scalars(select(SyncState).where(SyncState.user_id == user.id)).first()
    read = state.resume_link
    db.execute(_move_link_statement(), [{"state_id": state.id, "read": "stale", "next": "x"}])
    db.commit()
    assert _links(db, user)[state.folder] == read
    db.execute(_move_link_statement(), [{"state_id": state.id, "read": read, "next": "moved"}])
    db.commit()
    assert _links(db, user)[state.folder] == "moved"


def test_the_tick_polls_watched_mailboxes_quietly_and_the_others_by_session(
    app, client, sandbox, db, run_jobs, served
):
    user = _watched(client, sandbox, db, run_jobs)
    last = _sessions(db, user)[-1].finished_at
    safety = timedelta(minutes=app.config["SYNC_SAFETY_POLL_MINUTES"])
    plan = plan_tick(last + safety * 1.5)
    assert (plan.sessions, plan.quiet) == ([], [user.id])
    # The subscriptions gone (or failing): the normal interval, by session.
    db.execute(GraphSubscription.__table__.delete())
    db.commit()
    plan = plan_tick(last + safety * 3)  # past the row's next look
    assert (plan.sessions, plan.quiet) == ([user.id], [])


def test_the_tick_queues_a_quiet_poll_that_records_the_mailbox(
    app, client, sandbox, db, run_jobs, served
):
    user = _watched(client, sandbox, db, run_jobs)
    safety = timedelta(minutes=app.config["SYNC_SAFETY_POLL_MINUTES"])
    # As if the last session were a safety poll ago (its phase within the interval aside).
    db.execute(
        update(SyncSession)
        .where(SyncSession.user_id == user.id)
        .values(started_at=utcnow() - safety * 2, finished_at=utcnow() - safety * 2)
    )
    from server.models.schedule import SyncSchedule

    db.execute(update(SyncSchedule).values(due_at=utcnow() - timedelta(minutes=1)))
    db.commit()
    assert schedule_tick() == [user.id]
    assert run_jobs() == 1
    last = _sessions(db, user)[-1]
    assert (last.trigger, last.status, last.graph_requests) == (POLL_TRIGGER, "succeeded", 1)


def test_a_poll_and_a_session_of_one_mailbox_at_once_save_each_email_once(
    app, client, sandbox, db, run_jobs, served, tmp_path
):
    """Two worker processes, one taking the mailbox's quiet poll and the other its notified
    session at the same moment: the poll, finding the new mail too, hands the mailbox over
    (to the session running, which is asked to read once more), writes nothing, and the CRM
    ends as one session leaves it; the links left behind read the next email."""
    user = _watched(client, sandbox, db, run_jobs)
    _new_mail(sandbox)
    sandbox.control("/_sandbox/graph/faults", {"slow_rate": 1.0, "slow_ms": SLOW_MS})
    env = worker_env(app, tmp_path)
    workers = [start_worker(env), start_worker(env)]
    wait_for_workers(env, 2)
    first = len(_sessions(db, user))
    session = enqueue_session(user.id, "webhook")
    poll = enqueue_many([job_data("server.sync.quiet_poll.poll_quietly", [user.id])], "sync")[0]
    jobs = [session, poll.job]
    for job in jobs:
        wait_for_result(job, env)
    # The poll's hand-off is queued by now: a session it queued again (if the first had
    # already ended) is finished by a worker's warm shutdown, or run here if none took it.
    stop_workers(workers)
    run_jobs()
    for job in jobs:
        job.refresh()
    assert {job.get_status() for job in jobs} == {"finished"}, worker_log(env)
    assert poll.job.return_value() == {"polled": [], "found": [user.id], "handed_off": []}
    ran = _sessions(db, user)[first:]
    assert ran and all(s.status == "succeeded" for s in ran), [(s.trigger, s.status) for s in ran]
    assert all(s.trigger != POLL_TRIGGER for s in ran)  # the poll recorded nothing itself
    expected = expected_from(labels_of(sandbox, ALEX))
    assert_crm_matches(db, user.org_id, expected)
    keys = db.scalars(select(LedgerEntry.item_key).where(LedgerEntry.user_id == user.id)).all()
    assert len(keys) == len(set(keys))

    sandbox.control("/_sandbox/graph/faults", {"slow_rate": 0.0})
    enqueue_quiet_polls([user.id])
    assert run_jobs() == 1  # nothing new since: recorded by the poll
    _new_mail(sandbox)
    enqueue_quiet_polls([user.id])
    assert run_jobs() == 2
    assert_crm_matches(db, user.org_id, expected_from(labels_of(sandbox, ALEX)))
