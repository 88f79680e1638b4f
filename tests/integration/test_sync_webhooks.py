"""Graph change notifications: subscriptions made by the session, the validation handshake,
clientState checks, and new mail reaching the CRM within seconds through a notification."""

from __future__ import annotations

import threading
import time
from datetime import timedelta

import pytest
from sqlalchemy import select

from server.db import utcnow
from server.models.schedule import SyncSchedule
from server.models.sync import GraphSubscription, SyncSession
from server.sandbox.directory import DEMO_USERS
from server.sync.jobs import current_job, enqueue_session
from server.sync.scheduler import due_user_ids
from server.sync.webhooks import NOTIFY_PATH as NOTIFY
from server.sync.webhooks import REAUTHORIZE_WITHIN
from tests.integration.fleet_helpers import counted_statements
from tests.integration.sync_helpers import (
    assert_crm_matches,
    configure_mailboxes,
    expected_from,
    labels_of,
    signed_in_user,
)
from tests.integration.webhook_helpers import webhooks_config

ALEX = DEMO_USERS[0]
# An idle session's SQL statements (README: "A session reads little besides Graph").
IDLE_STATEMENTS = 15


@pytest.fixture
def app_config(sandbox):
    return webhooks_config(sandbox)


def test_the_handshake_echoes_the_validation_token(client):
    answer = client.post("/api/graph/notifications?validationToken=Validation%3A%20abc")
    assert answer.status_code == 200 and answer.mimetype == "text/plain"
    assert answer.text == "Validation: abc"


def test_new_mail_reaches_the_crm_through_a_notification(
    app, client, sandbox, db, run_jobs, served
):
    configure_mailboxes(sandbox, messages=80, events=6)
    user = signed_in_user(client, sandbox, db, ALEX)
    enqueue_session(user.id)
    run_jobs()
    subs = db.scalars(select(GraphSubscription).where(GraphSubscription.user_id == user.id)).all()
    assert {s.resource for s in subs} == {
        f"/users/{ALEX.object_id}/messages",
        f"/users/{ALEX.object_id}/events",
    }
    assert all(s.renew_at < s.expires_at for s in subs)

    sandbox.control(f"/_sandbox/graph/users/{ALEX.object_id}/messages", {})
    deadline = time.time() + 10
    # The job is read once per look: it can be replaced between two reads.
    while (job := current_job(user.id)) is None or job.get_status() != "queued":
        assert time.time() < deadline, "no session enqueued by the notification"
        time.sleep(0.05)
    run_jobs()
    assert_crm_matches(db, user.org_id, expected_from(labels_of(sandbox, ALEX)))


def test_a_wrong_client_state_enqueues_nothing(app, client, sandbox, db, run_jobs, served):
    configure_mailboxes(sandbox, messages=20, events=2)
    user = signed_in_user(client, sandbox, db, ALEX)
    enqueue_session(user.id)
    run_jobs()
    sub = db.scalars(select(GraphSubscription)).first()
    answer = client.post(
        "/api/graph/notifications",
        json={
            "value": [
                {
                    "subscriptionId": sub.subscription_id,
                    "clientState": "guess",
                    "changeType": "created",
                }
            ]
        },
    )
    assert answer.status_code == 202
    assert current_job(user.id).get_status() == "finished"
    answer = client.post(
        "/api/graph/lifecycle",
        json={
            "value": [
                {
                    "subscriptionId": sub.subscription_id,
                    "clientState": sub.client_state,
                    "lifecycleEvent": "missed",
                }
            ]
        },
    )
    assert answer.status_code == 202
    assert current_job(user.id).get_status() == "queued"


def test_mail_notified_while_a_session_runs_is_read_by_that_session(
    app, client, sandbox, db, run_jobs, served, redis_client
):
    """The session is past the inbox when the mail arrives: the notification cannot enqueue
    a second session (one per mailbox), so the running one reads once more before it ends."""
    from server.models.sync import SyncSession
    from server.sync.jobs import rerun_key

    configure_mailboxes(sandbox, messages=40, events=4)
    user = signed_in_user(client, sandbox, db, ALEX)
    enqueue_session(user.id)
    run_jobs()
    # Every Graph answer takes 300 ms (each request of a $batch too), so the rest of the
    # session leaves time to notify.
    sandbox.control("/_sandbox/graph/faults", {"slow_rate": 1.0, "slow_ms": 300})
    sandbox.control("/_sandbox/graph/stats/reset")
    failures: list[str] = []

    def new_mail_once_the_inbox_is_read() -> None:
        deadline = time.time() + 20
        while time.time() < deadline:
            # The inbox is read first (the first request of the session's batch): once the
            # second request is being served, the inbox's page is done.
            served = sandbox.control("/_sandbox/graph/stats", method="GET")["by_kind"]
            if served.get("message_delta", 0) >= 2:
                sandbox.control(f"/_sandbox/graph/users/{ALEX.object_id}/messages", {})
                while not redis_client.exists(rerun_key(user.id)):
                    if time.time() > deadline:
                        failures.append("the notification asked for no re-read")
                        return
                    time.sleep(0.02)
                return
            time.sleep(0.02)
        failures.append("the session never read the inbox")

    enqueue_session(user.id, "now")
    injector = threading.Thread(target=new_mail_once_the_inbox_is_read, daemon=True)
    injector.start()
    assert run_jobs() == 1  # one session: the notification enqueued no other
    injector.join(timeout=30)
    sandbox.control("/_sandbox/graph/faults", {})
    assert not failures
    db.expire_all()
    sessions = db.scalars(select(SyncSession).where(SyncSession.user_id == user.id)).all()
    assert len(sessions) == 2 and sessions[-1].status == "succeeded", sessions[-1].error
    assert sessions[-1].saved == 1  # the new mail, read by the same session
    assert_crm_matches(db, user.org_id, expected_from(labels_of(sandbox, ALEX)))


def _wait_queued(user_id: int) -> None:
    deadline = time.time() + 10
    while current_job(user_id) is None or current_job(user_id).get_status() != "queued":
        assert time.time() < deadline, "no session enqueued by the lifecycle notification"
        time.sleep(0.05)


def _synced_with_subscriptions(client, sandbox, db, run_jobs):
    configure_mailboxes(sandbox, messages=40, events=4)
    user = signed_in_user(client, sandbox, db, ALEX)
    enqueue_session(user.id)
    run_jobs()
    live = {s["resource"]: s["id"] for s in _sandbox_subscriptions(sandbox)}
    assert len(live) == 2
    return user, live


def _sandbox_subscriptions(sandbox) -> list[dict]:
    from server.sandbox.graph_state import state

    with sandbox.app.app_context():
        return [dict(s) for s in state().subscriptions.values()]


def test_subscription_removed_makes_the_next_session_subscribe_again(
    app, client, sandbox, db, run_jobs, served
):
    user, before = _synced_with_subscriptions(client, sandbox, db, run_jobs)
    answer = sandbox.control(
        "/_sandbox/graph/lifecycle", {"user": ALEX.object_id, "event": "subscriptionRemoved"}
    )
    assert set(answer["delivered"].values()) == {202}
    assert _sandbox_subscriptions(sandbox) == []
    _wait_queued(user.id)
    run_jobs()
    after = {s["resource"]: s["id"] for s in _sandbox_subscriptions(sandbox)}
    assert set(after) == set(before) and not set(after.values()) & set(before.values())
    db.expire_all()
    rows = db.scalars(select(GraphSubscription).where(GraphSubscription.user_id == user.id))
    assert {r.subscription_id for r in rows} == set(after.values())


def test_a_missed_notification_makes_a_session_read_the_mail(
    app, client, sandbox, db, run_jobs, served
):
    user, _ = _synced_with_subscriptions(client, sandbox, db, run_jobs)
    # New mail whose change notification Graph never delivered.
    sandbox.control(f"/_sandbox/graph/users/{ALEX.object_id}/messages", {"notify": False})
    sandbox.control("/_sandbox/graph/lifecycle", {"user": ALEX.object_id, "event": "missed"})
    _wait_queued(user.id)
    run_jobs()
    assert_crm_matches(db, user.org_id, expected_from(labels_of(sandbox, ALEX)))


def test_reauthorization_required_renews_the_subscriptions(
    app, client, sandbox, db, run_jobs, served
):
    user, before = _synced_with_subscriptions(client, sandbox, db, run_jobs)
    sandbox.control("/_sandbox/graph/stats/reset")
    sandbox.control(
        "/_sandbox/graph/lifecycle", {"user": ALEX.object_id, "event": "reauthorizationRequired"}
    )
    # Not a session at once (a tenant-wide event would be a burst): the mailbox is due at a
    # moment of its own within REAUTHORIZE_WITHIN, when the tick finds the renewal due.
    db.expire_all()
    now = utcnow()
    assert now - timedelta(seconds=5) <= db.get(SyncSchedule, user.id).due_at
    assert db.get(SyncSchedule, user.id).due_at <= now + REAUTHORIZE_WITHIN
    assert current_job(user.id).get_status() != "queued"
    assert due_user_ids(now + REAUTHORIZE_WITHIN) == [user.id]
    enqueue_session(user.id)
    run_jobs()
    served_kinds = sandbox.control("/_sandbox/graph/stats", method="GET")["by_kind"]
    assert served_kinds.get("renew_subscription") == 2
    assert {s["id"] for s in _sandbox_subscriptions(sandbox)} == set(before.values())


def test_notifications_coalesce_into_one_queued_session(app, db, served, redis_client):
    """However many notifications arrive for a mailbox, in however many concurrent
    deliveries, one session is queued for it."""
    import requests

    from server.queues import get_queue
    from tests.integration.fleet_helpers import make_mailboxes, make_org, subscribe

    now = utcnow()
    org = make_org(db)
    user, other = make_mailboxes(db, org, 2, now)
    for mailbox in (user, other):
        subscribe(db, mailbox, now + timedelta(days=2), now + timedelta(days=1))
    db.commit()
    subs = db.scalars(select(GraphSubscription).where(GraphSubscription.user_id == user.id)).all()
    batch = {
        "value": [
            {"subscriptionId": s.subscription_id, "clientState": s.client_state}
            for s in subs
            for _ in range(10)
        ]
    }
    answers: list[int] = []

    def deliver() -> None:
        for _ in range(5):
            answers.append(requests.post(served + NOTIFY, json=batch, timeout=30).status_code)

    threads = [threading.Thread(target=deliver) for _ in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=60)
    assert answers == [202] * 40
    assert get_queue("sync-fresh").job_ids == [f"sync-{user.id}"]
    assert get_queue("sync").job_ids == []


def test_a_notified_session_runs_before_the_polls_queued_ahead_of_it(
    app, db, served, redis_client, tmp_path
):
    """Fresh mail first: the session of a notified mailbox overtakes the safety polls queued
    before it (a real worker process takes it first), and the mailbox is still queued once:
    its own waiting poll gives way to it, and a poll asked for later is coalesced into it."""
    import requests

    from server.models.sync import SyncSession
    from server.queues import get_queue
    from server.sync.jobs import enqueue_sessions
    from tests.integration.fleet_helpers import make_mailboxes, make_org, subscribe
    from tests.integration.worker_processes import start_worker, worker_env, worker_log

    now = utcnow()
    mailboxes = make_mailboxes(db, make_org(db), 5, now)
    notified = mailboxes[2]
    subscribe(db, notified, now + timedelta(days=2), now + timedelta(days=1))
    db.commit()
    assert all(enqueue_sessions([m.id for m in mailboxes], "schedule"))
    subs = db.scalars(select(GraphSubscription).where(GraphSubscription.user_id == notified.id))
    body = {
        "value": [
            {"subscriptionId": s.subscription_id, "clientState": s.client_state} for s in subs
        ]
    }
    assert requests.post(served + NOTIFY, json=body, timeout=30).status_code == 202
    polls = [f"sync-{m.id}" for m in mailboxes if m is not notified]
    assert get_queue("sync-fresh").job_ids == [f"sync-{notified.id}"]
    assert get_queue("sync").job_ids == polls
    assert enqueue_session(notified.id, "schedule") is None

    env = worker_env(app, tmp_path)
    worker = start_worker(env, burst=True)
    assert worker.wait(timeout=120) == 0, worker_log(env)
    db.expire_all()
    ran = db.execute(select(SyncSession.user_id, SyncSession.trigger).order_by(SyncSession.id))
    assert [tuple(row) for row in ran] == [(notified.id, "webhook")] + [
        (m.id, "schedule") for m in mailboxes if m is not notified
    ]


def test_a_subscription_graph_refused_leaves_the_mailbox_on_the_normal_poll(
    app, client, sandbox, db, run_jobs
):
    """Our notification URL does not answer Graph's validation (not served here): no
    subscription, so the mailbox keeps the normal interval instead of the safety poll."""
    configure_mailboxes(sandbox, messages=20, events=2)
    user = signed_in_user(client, sandbox, db, ALEX)
    enqueue_session(user.id)
    run_jobs()
    assert db.scalars(select(GraphSubscription)).all() == []
    last = _last_finished(db, user)
    interval = timedelta(minutes=app.config["SYNC_INTERVAL_MINUTES"])
    assert due_user_ids(last + interval * 1.5) == [user.id]


def test_live_subscriptions_leave_the_mailbox_to_notifications_and_the_safety_poll(
    app, client, sandbox, db, run_jobs, served
):
    user, _ = _synced_with_subscriptions(client, sandbox, db, run_jobs)
    last = _last_finished(db, user)
    interval = timedelta(minutes=app.config["SYNC_INTERVAL_MINUTES"])
    safety = timedelta(minutes=app.config["SYNC_SAFETY_POLL_MINUTES"])
    assert due_user_ids(last + interval * 1.5) == []
    assert due_user_ids(last + safety * 1.5) == [user.id]


def _last_finished(db, user):
    from server.models.sync import SyncSession

    db.expire_all()
    return db.scalar(
        select(SyncSession.finished_at)
        .where(SyncSession.user_id == user.id)
        .order_by(SyncSession.id.desc())
        .limit(1)
    )


def test_an_idle_session_runs_a_fixed_budget_of_sql_statements(
    app, client, sandbox, db, run_jobs, served
):
    """A watched mailbox with nothing new costs one $batch call and IDLE_STATEMENTS SQL
    statements (README, "A session reads little besides Graph"): ten thousand of them an hour
    are the fleet's steady load, so one more statement per session is a regression."""
    user, _ = _synced_with_subscriptions(client, sandbox, db, run_jobs)
    with counted_statements() as statements:
        assert enqueue_session(user.id) is not None
        assert run_jobs() == 1
    db.expire_all()
    idle = db.scalars(select(SyncSession).order_by(SyncSession.id.desc())).first()
    assert (idle.status, idle.items_read, idle.graph_requests) == ("succeeded", 0, 1)
    assert len(statements) == IDLE_STATEMENTS, "\n".join(statements)
