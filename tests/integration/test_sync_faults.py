"""Faults between the sync and Graph: throttling, 503s, connection resets, lost delta state.
Whatever happens, the CRM ends up with exactly the labelled set and no duplicates."""

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
    return {**sandbox.settings(), **FAST_RETRIES, "GRAPH_PAGE_SIZE": 25}


def _last(db, user) -> SyncSession:
    db.expire_all()
    return db.scalars(
        select(SyncSession).where(SyncSession.user_id == user.id).order_by(SyncSession.id.desc())
    ).first()


def test_throttling_503_and_resets_still_give_the_exact_end_state(
    app, client, sandbox, db, run_jobs
):
    configure_mailboxes(sandbox, messages=300, events=20)
    user = signed_in_user(client, sandbox, db, ALEX)
    sandbox.control(
        "/_sandbox/graph/faults",
        {"throttle_rate": 0.1, "unavailable_rate": 0.1, "reset_rate": 0.05, "seed": 3},
    )
    enqueue_session(user.id)
    run_jobs()
    session = _last(db, user)
    assert session.status == "succeeded", session.error
    served = sandbox.control("/_sandbox/graph/stats", method="GET")["by_kind"]
    assert served["fault_throttle"] and served["fault_unavailable"] and served["fault_reset"]
    sandbox.control("/_sandbox/graph/faults", {})
    assert_crm_matches(db, user.org_id, expected_from(labels_of(sandbox, ALEX)))


@pytest.mark.parametrize("status", [410, 400, 404])
def test_an_invalidated_delta_token_means_a_full_reread_without_duplicates(
    app, client, sandbox, db, run_jobs, status
):
    """Graph answers a dead token with SyncStateNotFound on a "40X" status: each of them
    restarts the round (a 400 or 404 used to fail every later session the same way)."""
    configure_mailboxes(sandbox, messages=200, events=10)
    user = signed_in_user(client, sandbox, db, ALEX)
    enqueue_session(user.id)
    run_jobs()
    sandbox.control(f"/_sandbox/graph/users/{ALEX.object_id}/messages", {})
    sandbox.control("/_sandbox/graph/faults", {"lost_state_status": status})
    sandbox.control("/_sandbox/graph/invalidate", {})
    enqueue_session(user.id, "now")
    run_jobs()
    session = _last(db, user)
    assert session.status == "succeeded", session.error
    assert session.full_reads == 4  # three folders and the calendar read again
    assert session.saved == 1  # only the new email; the re-read found the rest saved
    assert session.counts["already_saved"] > 100
    assert_crm_matches(db, user.org_id, expected_from(labels_of(sandbox, ALEX)))


def test_delta_state_lost_in_the_middle_of_the_first_round(app, client, sandbox, db, run_jobs):
    configure_mailboxes(sandbox, messages=300, events=10)
    user = signed_in_user(client, sandbox, db, ALEX)
    sandbox.control("/_sandbox/graph/faults", {"invalidate_after": 12})
    enqueue_session(user.id)
    run_jobs()
    session = _last(db, user)
    assert session.status == "succeeded", session.error
    assert session.full_reads >= 1
    assert_crm_matches(db, user.org_id, expected_from(labels_of(sandbox, ALEX)))


def test_throttling_beyond_the_wait_limit_ends_the_session_and_the_next_one_finishes(
    app, client, sandbox, db, run_jobs
):
    configure_mailboxes(sandbox, messages=100, events=5)
    user = signed_in_user(client, sandbox, db, ALEX)
    sandbox.control("/_sandbox/graph/faults", {"throttle_rate": 1.0, "retry_after": "3600"})
    enqueue_session(user.id)
    run_jobs()
    failed = _last(db, user)
    assert failed.status == "failed" and "GraphUnavailable" in failed.error
    sandbox.control("/_sandbox/graph/faults", {})
    enqueue_session(user.id, "now")
    run_jobs()
    assert _last(db, user).status == "succeeded"
    assert_crm_matches(db, user.org_id, expected_from(labels_of(sandbox, ALEX)))
