"""Session liveness does not depend on page length: with every Graph request slowed past the
reaper's threshold (the sandbox's latency switch), a real worker process keeps its session
alive by its heartbeat thread; the tick, run all along, reaps nothing and starts no second
session; the session ends with its own status. And status changes are compare-and-set."""

from __future__ import annotations

import time
from datetime import timedelta

import pytest
from sqlalchemy import select

from server.db import utcnow
from server.models.sync import SyncSession
from server.sandbox.directory import DEMO_USERS
from server.sync.jobs import enqueue_session
from server.sync.liveness import SessionSuperseded, finish, still_running
from server.sync.scheduler import reap_dead_sessions, schedule_tick
from tests.integration.sync_helpers import FAST_RETRIES, configure_mailboxes, signed_in_user
from tests.integration.worker_processes import (  # noqa: F401 (an autouse fixture)
    kill_leftover_workers,
    start_worker,
    worker_env,
    worker_log,
)

ALEX = DEMO_USERS[0]
STALE_SECONDS = 2
SLOW_MS = 3500  # each Graph request: well past the reaper's threshold


@pytest.fixture
def app_config(sandbox):
    return {
        **sandbox.settings(),
        **FAST_RETRIES,
        "GRAPH_PAGE_SIZE": 50,
        "SYNC_STALE_SECONDS": STALE_SECONDS,
        "SYNC_HEARTBEAT_SECONDS": 1,
        "HTTP_TIMEOUT_SECONDS": 20,
    }


def _sessions(db, user) -> list[SyncSession]:
    db.expire_all()
    return list(
        db.scalars(
            select(SyncSession).where(SyncSession.user_id == user.id).order_by(SyncSession.id)
        )
    )


def test_a_page_slower_than_the_reaper_threshold_keeps_one_session(
    app, client, sandbox, db, tmp_path
):
    configure_mailboxes(sandbox, messages=30, events=3)
    user = signed_in_user(client, sandbox, db, ALEX)
    sandbox.control("/_sandbox/graph/faults", {"slow_rate": 1.0, "slow_ms": SLOW_MS})
    env = worker_env(app, tmp_path)
    assert enqueue_session(user.id, "now") is not None
    worker = start_worker(env)
    deadline = time.time() + 180
    ticks = 0
    while time.time() < deadline:
        schedule_tick()  # what the minute tick does, many times over while pages are slow
        ticks += 1
        sessions = _sessions(db, user)
        assert len(sessions) <= 1, [(s.id, s.status, s.error) for s in sessions]
        if sessions and sessions[0].status != "running":
            break
        time.sleep(0.25)  # the tick's own pace; not a synchronisation
    else:
        pytest.fail(f"the session did not finish in time; log:\n{worker_log(env)}")
    worker.kill()
    worker.wait(timeout=30)
    (session,) = _sessions(db, user)
    assert session.status == "succeeded", (session.error, worker_log(env))
    assert session.items_read > 0
    # The pages really were slower than the threshold, and the tick ran throughout them.
    assert session.duration_ms > 2 * STALE_SECONDS * 1000
    assert ticks > 2 * STALE_SECONDS / 0.25


def test_a_reaped_session_cannot_overwrite_its_status_or_commit_a_page(app, client, sandbox, db):
    user = signed_in_user(client, sandbox, db, ALEX)
    record = SyncSession(org_id=user.org_id, user_id=user.id, worker="elsewhere:1")
    db.add(record)
    db.commit()
    record.heartbeat_at = utcnow() - timedelta(seconds=STALE_SECONDS + 5)
    db.commit()
    assert reap_dead_sessions() == [user.id]
    with pytest.raises(SessionSuperseded):
        still_running(db, record.id)
    db.rollback()
    assert finish(db, record.id, "succeeded") is False
    db.expire_all()
    assert db.get(SyncSession, record.id).status == "abandoned"


def test_a_session_that_beat_after_the_reaper_looked_is_not_reaped(app, client, sandbox, db):
    """The reaper's close is conditional on the heartbeat it saw being still stale."""
    from server.sync.liveness import abandon, stale_cutoff

    user = signed_in_user(client, sandbox, db, ALEX)
    record = SyncSession(org_id=user.org_id, user_id=user.id, worker="elsewhere:1")
    db.add(record)
    db.commit()
    assert abandon(db, record.id, stale_before=stale_cutoff(utcnow())) is False
    db.expire_all()
    assert db.get(SyncSession, record.id).status == "running"


def test_the_database_refuses_a_second_running_session_for_one_mailbox(app, client, sandbox, db):
    from server.sync.session import run_session

    user = signed_in_user(client, sandbox, db, ALEX)
    db.add(SyncSession(org_id=user.org_id, user_id=user.id, worker="elsewhere:1"))
    db.commit()
    assert run_session(user.id, "now") == {"status": "already_running"}
    assert [s.status for s in _sessions(db, user)] == ["running"]
