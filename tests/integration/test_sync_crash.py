"""Crash safety: a real RQ worker process is SIGKILLed at random moments of a 5,000-message
initial sync and restarted; Redis is flushed mid-run. The CRM's end state always equals the
labelled set, with zero duplicates."""

from __future__ import annotations

import random
import signal
import time

import pytest
from sqlalchemy import select

from server.models.sync import SyncSession
from server.sandbox.directory import DEMO_USERS
from server.sync.jobs import enqueue_session
from server.sync.scheduler import schedule_tick
from tests.integration.sync_helpers import (
    FAST_RETRIES,
    assert_crm_matches,
    configure_mailboxes,
    expected_from,
    labels_of,
    signed_in_user,
)
from tests.integration.worker_processes import (  # noqa: F401 (an autouse fixture)
    kill_leftover_workers,
    start_worker,
    worker_env,
    worker_log,
)

ALEX, BIANCA = DEMO_USERS[0], DEMO_USERS[1]


@pytest.fixture
def app_config(sandbox):
    return {**sandbox.settings(), **FAST_RETRIES, "GRAPH_PAGE_SIZE": 50}


def _finish(env) -> None:
    """Re-enqueue what the database says is due or dead, then run the queue dry."""
    schedule_tick()
    worker = start_worker(env, burst=True)
    worker.wait(timeout=240)
    assert worker.returncode == 0, worker_log(env)


def _wait_for_running_session(db, user, pid: int, env, timeout: float = 120) -> int:
    deadline = time.time() + timeout
    while time.time() < deadline:
        for session in _sessions(db, user):
            if session.status == "running" and session.worker.endswith(f":{pid}"):
                return session.id
        time.sleep(0.05)
    seen = [(s.status, s.worker) for s in _sessions(db, user)]
    raise AssertionError(
        f"worker {pid} did not start the session; sessions: {seen}; log:\n{worker_log(env)}"
    )


def _wait_for_progress(db, session_id: int, items: int, timeout: float = 60) -> None:
    deadline = time.time() + timeout
    while time.time() < deadline:
        db.expire_all()
        if db.get(SyncSession, session_id).items_read >= items:
            return
        time.sleep(0.02)
    pytest.fail(f"session {session_id} did not reach {items} items in {timeout} s")


def _sessions(db, user) -> list[SyncSession]:
    db.expire_all()
    return list(db.scalars(select(SyncSession).where(SyncSession.user_id == user.id)))


@pytest.mark.slow
def test_sigkill_during_a_5000_message_initial_sync_20_times(app, client, sandbox, db, tmp_path):
    configure_mailboxes(sandbox, messages=5000, events=40)
    user = signed_in_user(client, sandbox, db, ALEX)
    env = worker_env(app, tmp_path)
    rng = random.Random(20261123)
    enqueue_session(user.id)
    kills = 0
    for _ in range(20):
        worker = start_worker(env)
        session_id = _wait_for_running_session(db, user, worker.pid, env)
        # A random moment: after a random number of committed items, then somewhere inside a
        # page. A run gets at most ~250 items further (100 + a 50-item page + 50 ms of work at
        # ~2,000 items/s), so twenty runs cannot finish the 5,000 messages.
        _wait_for_progress(db, session_id, rng.randint(0, 100))
        time.sleep(rng.uniform(0.0, 0.05))
        finished = worker.poll() is not None
        worker.send_signal(signal.SIGKILL)
        worker.wait(timeout=30)
        kills += not finished
        db.expire_all()
        schedule_tick()  # notices the dead worker (its pid is gone) and re-enqueues
    _finish(env)
    sessions = _sessions(db, user)
    assert kills == 20
    assert sum(s.status == "abandoned" for s in sessions) == 20  # each killed mid-session
    assert sessions[-1].status == "succeeded"
    assert_crm_matches(db, user.org_id, expected_from(labels_of(sandbox, ALEX)))


def test_redis_flushed_mid_run_the_next_tick_rebuilds_from_the_database(
    app, client, sandbox, db, tmp_path, redis_client
):
    configure_mailboxes(sandbox, messages=1500, events=20)
    alex = signed_in_user(client, sandbox, db, ALEX)
    client.get("/auth/signout")
    bianca = signed_in_user(client, sandbox, db, BIANCA)
    env = worker_env(app, tmp_path)
    enqueue_session(alex.id)
    enqueue_session(bianca.id)
    worker = start_worker(env)
    deadline = time.time() + 60
    while not any(s.items_read for s in _sessions(db, alex)):
        assert time.time() < deadline, f"alex's session read nothing; log:\n{worker_log(env)}"
        time.sleep(0.1)
    redis_client.flushall()  # both jobs, the queue and the worker's registrations are gone
    worker.send_signal(signal.SIGKILL)
    worker.wait(timeout=30)
    _finish(env)
    assert _sessions(db, alex)[-1].status == "succeeded", _sessions(db, alex)[-1].error
    assert _sessions(db, bianca)[-1].status == "succeeded"
    expected = expected_from(labels_of(sandbox, ALEX), labels_of(sandbox, BIANCA))
    assert_crm_matches(db, alex.org_id, expected)
