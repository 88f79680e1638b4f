"""Graph change notifications: subscriptions made by the session, the validation handshake,
clientState checks, and new mail reaching the CRM within seconds through a notification."""

from __future__ import annotations

import threading
import time

import pytest
from sqlalchemy import select
from werkzeug.serving import make_server

from server.models.sync import GraphSubscription
from server.redis_server import free_port
from server.sandbox.directory import DEMO_USERS
from server.sync.jobs import current_job, enqueue_session
from tests.integration.sync_helpers import (
    FAST_RETRIES,
    assert_crm_matches,
    configure_mailboxes,
    expected_from,
    labels_of,
    signed_in_user,
)

ALEX = DEMO_USERS[0]


@pytest.fixture
def app_config(sandbox):
    return {
        **sandbox.settings(),
        **FAST_RETRIES,
        "SYNC_WEBHOOKS_ENABLED": True,
        "BASE_URL": f"http://127.0.0.1:{free_port()}",
    }


@pytest.fixture
def served(app):
    """Our app over real HTTP at BASE_URL, so the sandbox can call it."""
    port = int(app.config["BASE_URL"].rsplit(":", 1)[1])
    server = make_server("127.0.0.1", port, app, threaded=True)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield app.config["BASE_URL"]
    server.shutdown()
    thread.join(timeout=10)


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
    while current_job(user.id) is None or current_job(user.id).get_status() != "queued":
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
    first_session = db.scalars(select(SyncSession)).one().id
    # Every Graph answer takes 300 ms, so the rest of the session leaves time to notify.
    sandbox.control("/_sandbox/graph/faults", {"slow_rate": 1.0, "slow_ms": 300})
    failures: list[str] = []

    def new_mail_once_the_inbox_is_read() -> None:
        with app.app_context():
            from server.db import get_session

            session = get_session()
            deadline = time.time() + 20
            while time.time() < deadline:
                session.expire_all()
                # The inbox is read first; its page's commit is the first to count requests.
                running = session.scalar(select(SyncSession).where(SyncSession.id > first_session))
                if running is not None and running.graph_requests > 0:
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
