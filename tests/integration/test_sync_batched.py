"""A session's delta requests go in one $batch: partial failures inside the batch (a
throttled request, a lost delta state) still end with exactly the labelled set saved."""

from __future__ import annotations

import pytest
from sqlalchemy import select

from server.models.sync import SyncSession
from server.sandbox.directory import DEMO_USERS
from server.sync.jobs import enqueue_session
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
    return {**sandbox.settings(), **FAST_RETRIES}


def _last(db, user) -> SyncSession:
    db.expire_all()
    return db.scalars(
        select(SyncSession).where(SyncSession.user_id == user.id).order_by(SyncSession.id.desc())
    ).first()


def _synced_with_new_mail(client, sandbox, db, run_jobs):
    configure_mailboxes(sandbox, messages=60, events=6)
    user = signed_in_user(client, sandbox, db, ALEX)
    enqueue_session(user.id)
    run_jobs()
    assert _last(db, user).status == "succeeded"
    for _ in range(2):
        sandbox.control(f"/_sandbox/graph/users/{ALEX.object_id}/messages", {})
    sandbox.control("/_sandbox/graph/stats/reset")
    return user


def test_throttled_requests_inside_the_batch_are_read_after_their_retry_after(
    app, client, sandbox, db, run_jobs
):
    user = _synced_with_new_mail(client, sandbox, db, run_jobs)
    sandbox.control("/_sandbox/graph/faults", {"batch_item_throttles": 3, "retry_after": "0.05"})
    enqueue_session(user.id, "now")
    run_jobs()
    session = _last(db, user)
    assert session.status == "succeeded", session.error
    assert session.saved == 2
    assert session.graph_requests == 2  # the batch, and the throttled three in a second one
    served = sandbox.control("/_sandbox/graph/stats", method="GET")["by_kind"]
    assert served["fault_throttle_in_batch"] == 3 and served["batch"] == 2
    assert_crm_matches(db, user.org_id, expected_from(labels_of(sandbox, ALEX)))


def test_a_lost_delta_state_inside_the_batch_restarts_those_rounds_alone(
    app, client, sandbox, db, run_jobs
):
    user = _synced_with_new_mail(client, sandbox, db, run_jobs)
    sandbox.control("/_sandbox/graph/invalidate", {"user": ALEX.email})
    enqueue_session(user.id, "now")
    run_jobs()
    session = _last(db, user)
    assert session.status == "succeeded", session.error
    assert session.full_reads == 4  # every round re-read its window; the ledger kept it once
    assert session.saved == 2
    assert_crm_matches(db, user.org_id, expected_from(labels_of(sandbox, ALEX)))


def test_a_batch_throttled_beyond_the_allowed_wait_fails_and_the_next_session_reads_all(
    app, client, sandbox, db, run_jobs
):
    user = _synced_with_new_mail(client, sandbox, db, run_jobs)
    app.config["GRAPH_MAX_WAIT_SECONDS"] = 1
    sandbox.control("/_sandbox/graph/faults", {"throttle_rate": 1.0, "retry_after": "5"})
    enqueue_session(user.id, "now")
    run_jobs()
    assert _last(db, user).status == "failed"  # Graph says wait 5 s, more than we may
    sandbox.control("/_sandbox/graph/faults", {})
    enqueue_session(user.id, "now")
    run_jobs()
    assert _last(db, user).status == "succeeded"
    assert_crm_matches(db, user.org_id, expected_from(labels_of(sandbox, ALEX)))
