"""Scaling out (issue 14): two worker processes never run one mailbox's session at once.

RQ's unique job id keeps a second session of a mailbox from being *queued*; the guarantee
that holds whatever Redis says (an id released by the reaper while its worker still ran, a
flushed Redis, a requeue) is the database's: a partial unique index allows one `running`
session row per mailbox (issue 11), and a session that cannot insert its row does nothing.
Here two real worker processes, both idle and waiting, are handed a session of the same
mailbox at the same moment (two jobs under two ids, pushed by one script call): one runs it,
the other finds it running and stops, and the CRM ends exactly as one session leaves it."""

from __future__ import annotations

import pytest
from rq.job import Job
from sqlalchemy import select

from server.models.ledger import LedgerEntry
from server.models.sync import SyncSession
from server.queues import enqueue_many, job_data
from server.sandbox.directory import DEMO_USERS
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
    wait_for_result,
    wait_for_workers,
    worker_env,
    worker_log,
)

ALEX = DEMO_USERS[0]
SLOW_MS = 700  # each Graph request: the session outlasts the other worker's start by far


@pytest.fixture
def app_config(sandbox):
    return {**sandbox.settings(), **FAST_RETRIES, "GRAPH_PAGE_SIZE": 10}


def test_two_workers_never_run_one_mailboxs_session_at_once(
    app, client, sandbox, db, tmp_path, redis_client
):
    configure_mailboxes(sandbox, messages=25, events=3)
    user = signed_in_user(client, sandbox, db, ALEX)
    expected = expected_from(labels_of(sandbox, ALEX))
    sandbox.control("/_sandbox/graph/faults", {"slow_rate": 1.0, "slow_ms": SLOW_MS})
    env = worker_env(app, tmp_path)
    workers = [start_worker(env), start_worker(env)]
    # Both processes registered (and about to block on the queue) before any job exists.
    wait_for_workers(env, 2)
    ids = [f"sync-{user.id}", f"sync-{user.id}-released"]
    outcomes = enqueue_many(
        [job_data("server.sync.session.run_session", user.id, "now", job_id=i) for i in ids],
        "sync",
    )
    assert all(o.job is not None for o in outcomes)
    jobs = [Job.fetch(i, connection=redis_client) for i in ids]

    for job in jobs:
        wait_for_result(job, env)
    for worker in workers:
        worker.kill()
        worker.wait(timeout=30)

    assert {job.get_status() for job in jobs} == {"finished"}, worker_log(env)
    results = sorted((job.return_value() or {}).get("status") for job in jobs)
    # Only one ran the session: the other found it running (so the two overlapped; one
    # worker taking both in turn would have run two sessions, the second one idle).
    assert results == ["already_running", "succeeded"], [job.return_value() for job in jobs]
    db.expire_all()
    sessions = db.scalars(select(SyncSession).where(SyncSession.user_id == user.id)).all()
    assert [(s.status, s.items_read > 0) for s in sessions] == [("succeeded", True)]
    # The end state is exactly one session's: each email once in the CRM and in the ledger.
    assert_crm_matches(db, user.org_id, expected)
    keys = db.scalars(select(LedgerEntry.item_key).where(LedgerEntry.user_id == user.id)).all()
    assert len(keys) == len(set(keys))
