"""Change notifications in application mode: the session subscribes with the app-only token
to users/{id}/messages and users/{id}/events, a notification makes a session read the new
mail, and subscriptions are recreated and renewed as the delegated ones are."""

from __future__ import annotations

import time

import pytest
from rq.exceptions import InvalidJobOperation
from sqlalchemy import select

from server.models.sync import GraphSubscription
from server.redis_server import free_port
from server.sandbox.directory import DEMO_USERS
from server.sandbox.graph_state import state as graph_state
from server.sync.jobs import current_job, enqueue_session
from tests.integration.app_mode_helpers import app_mode_users
from tests.integration.sync_helpers import (
    FAST_RETRIES,
    assert_crm_matches,
    configure_mailboxes,
    expected_from,
    labels_of,
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


def _subscriptions(sandbox) -> list[dict]:
    with sandbox.app.app_context():
        return [dict(s) for s in graph_state().subscriptions.values()]


def _status(user_id: int) -> str:
    job = current_job(user_id)
    try:
        return job.get_status() if job is not None else ""
    except InvalidJobOperation:  # replaced between the two reads
        return ""


def _wait_queued(user_id: int) -> None:
    deadline = time.time() + 10
    while _status(user_id) != "queued":
        assert time.time() < deadline, "no session enqueued"
        time.sleep(0.05)


def test_app_only_subscriptions_are_made_renewed_and_recreated(
    app,
    sandbox,
    db,
    run_jobs,
    served,  # noqa: F811
):
    configure_mailboxes(sandbox, messages=40, events=4)
    (alex,) = app_mode_users(db, sandbox, [ALEX])
    enqueue_session(alex.id)
    run_jobs()
    rows = db.scalars(select(GraphSubscription).where(GraphSubscription.user_id == alex.id)).all()
    assert {r.resource for r in rows} == {
        f"/users/{ALEX.object_id}/messages",
        f"/users/{ALEX.object_id}/events",
    }
    made = _subscriptions(sandbox)
    assert {s["userId"] for s in made} == {ALEX.object_id}

    # New mail: the notification enqueues the session, which saves it.
    sandbox.control(f"/_sandbox/graph/users/{ALEX.object_id}/messages", {})
    _wait_queued(alex.id)
    run_jobs()
    assert_crm_matches(db, alex.org_id, expected_from(labels_of(sandbox, ALEX)))

    # Graph removed them: the next session subscribes again, with the app-only token.
    before = {s["id"] for s in made}
    sandbox.control(
        "/_sandbox/graph/lifecycle", {"user": ALEX.object_id, "event": "subscriptionRemoved"}
    )
    _wait_queued(alex.id)
    run_jobs()
    after = {s["id"] for s in _subscriptions(sandbox)}
    assert len(after) == 2 and not after & before
    # The new rows carry the lifetime Graph granted (not the moment they were made), so the
    # next session leaves them alone.
    db.expire_all()
    for row in db.scalars(select(GraphSubscription)):
        assert row.subscription_id in after
        assert row.renew_at > row.created_at and row.expires_at > row.renew_at

    # Renewal past half their life: PATCH with the app-only token.
    db.expire_all()
    for row in db.scalars(select(GraphSubscription)):
        row.renew_at = row.created_at
    db.commit()
    sandbox.control("/_sandbox/graph/stats/reset")
    enqueue_session(alex.id, "now")
    run_jobs()
    kinds = sandbox.control("/_sandbox/graph/stats", method="GET")["by_kind"]
    assert kinds.get("renew_subscription") == 2
    assert {s["id"] for s in _subscriptions(sandbox)} == after
