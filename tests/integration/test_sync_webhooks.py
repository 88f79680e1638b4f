"""Graph change notifications: subscriptions made by the session, the validation handshake,
clientState checks, and new mail reaching the CRM within seconds through a notification."""

from __future__ import annotations

import threading
import time

import pytest
from sqlalchemy import select
from werkzeug.serving import make_server

from server.models.sync import GraphSubscription
from server.sandbox.directory import DEMO_USERS
from server.sync.jobs import current_job, enqueue_session
from tests.conftest import free_port
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
