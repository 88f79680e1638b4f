"""A ledger row is re-driven only when its writer is really gone, with real worker processes
and Salesforce in MessageIdentifier mode (look up, then create: a second writer alongside a
live one would create the email twice).

- A sync session whose CRM write lasts longer than the writer lease (every Salesforce call
  slowed by the sandbox, records failing and retried alone): its lease is renewed while it
  writes, so the tick, run all along, re-drives nothing; each email is in Salesforce once.
- The same session's worker SIGKILLed mid-write: the tick leaves its rows alone while the lease
  runs, re-drives them once it has run out (once: later ticks queue nothing), and the
  re-driven jobs write each email once.
"""

from __future__ import annotations

import signal
import time
from collections import Counter
from datetime import timedelta

import pytest
from sqlalchemy import select

from server.crm.salesforce.tokens import store_connection
from server.db import utcnow
from server.models.ledger import LedgerEntry
from server.pane.save_queue import requeue_pending_saves
from server.sync.jobs import enqueue_session
from tests.integration.race_scenario import ALEX, deliver_shared, salesforce_counts
from tests.integration.salesforce_harness import salesforce_settings
from tests.integration.sync_helpers import FAST_RETRIES, configure_mailboxes, signed_in_user
from tests.integration.worker_processes import (  # noqa: F401 (an autouse fixture)
    kill_leftover_workers,
    start_worker,
    worker_env,
    worker_log,
)

LEASE = 4  # seconds; renewed every second while the writer writes
EMAILS = 30


@pytest.fixture
def app_config(sandbox):
    return {
        **salesforce_settings(sandbox),
        **FAST_RETRIES,
        "CRM_ADAPTER": "salesforce",
        "SALESFORCE_EMAIL_KEY_FIELD": "MessageIdentifier",
        "WRITER_LEASE_SECONDS": LEASE,
        "HTTP_TIMEOUT_SECONDS": 3,
    }


def _alex(client, sandbox, db):
    configure_mailboxes(sandbox, messages=0, events=0)
    sandbox.control("/_sandbox/salesforce/reset", {"seed_demo": True})
    user = signed_in_user(client, sandbox, db, ALEX)
    grant = sandbox.control("/_sandbox/salesforce/grants", {"username": ALEX.email})
    store_connection(user, grant, ALEX.email)
    db.commit()
    return user


def _slow_sync(app, client, sandbox, db, tmp_path, tag: str):
    """Alex's session over EMAILS new emails, run by a real worker process, with every
    Salesforce call ~1 s and records failing in collections (each retried alone: more calls),
    so one page's write takes several seconds — longer than the lease."""
    user = _alex(client, sandbox, db)
    keys = deliver_shared(sandbox, EMAILS, tag)
    # ~1.5 s a call (under HTTP_TIMEOUT_SECONDS): the page's write lasts ~6 s, well past the
    # lease. At 1 s a call it lasted ~4 s, and a faster HTTP path made it the lease's length.
    sandbox.control("/_sandbox/salesforce/faults", {"latency_ms": 1500, "failing_records": 6})
    env = worker_env(app, tmp_path)
    assert enqueue_session(user.id, "now") is not None
    return keys, env, start_worker(env)


def _pending(db) -> list[LedgerEntry]:
    db.expire_all()
    rows = list(db.scalars(select(LedgerEntry).where(LedgerEntry.status == "pending")))
    db.commit()
    return rows


def _ledger(db) -> Counter:
    db.expire_all()
    rows = Counter(db.scalars(select(LedgerEntry.status)))
    db.commit()
    return rows


@pytest.mark.slow
def test_a_writer_slower_than_its_lease_is_never_re_driven(app, client, sandbox, db, tmp_path):
    keys, env, worker = _slow_sync(app, client, sandbox, db, tmp_path, "slow")
    oldest_pending = 0.0
    queued = 0
    deadline = time.time() + 240
    while _ledger(db)["saved"] < EMAILS:
        assert time.time() < deadline, (_ledger(db), worker_log(env))
        for row in _pending(db):
            oldest_pending = max(oldest_pending, (utcnow() - row.created_at).total_seconds())
        queued += requeue_pending_saves(older_than=timedelta(0))  # the tick, all along
        time.sleep(0.1)  # the tick's pace, not a synchronisation
    worker.kill()
    worker.wait(timeout=30)
    # The writer really was slower than its lease, and the tick never re-drove its rows.
    assert oldest_pending > LEASE, oldest_pending
    assert queued == 0
    counts = salesforce_counts(sandbox, keys)
    assert sorted(counts.values()) == [1] * EMAILS, counts


@pytest.mark.slow
def test_a_killed_writer_s_rows_are_re_driven_once_after_its_lease(
    app, client, sandbox, db, tmp_path
):
    keys, env, worker = _slow_sync(app, client, sandbox, db, tmp_path, "killed")
    deadline = time.time() + 240
    while not _pending(db):  # the session has claimed its page and is writing it
        assert time.time() < deadline, worker_log(env)
        assert worker.poll() is None, worker_log(env)
    worker.send_signal(signal.SIGKILL)
    worker.wait(timeout=30)
    killed_at = time.time()
    claimed = {row.item_key for row in _pending(db)}
    assert claimed
    # Its lease still runs: nothing is re-driven yet.
    queued = requeue_pending_saves(older_than=timedelta(0))
    assert queued == 0 or time.time() - killed_at > LEASE - 1
    while not queued:
        assert time.time() < deadline, "the dead writer's rows were never re-driven"
        queued = requeue_pending_saves(older_than=timedelta(0))
        time.sleep(0.1)  # the tick's pace
    assert queued == len({row.item_key for row in _pending(db)}) <= len(claimed)
    assert requeue_pending_saves(older_than=timedelta(0)) == 0  # once: the jobs are queued
    sandbox.control("/_sandbox/salesforce/faults", {"clear": True})
    burst = start_worker(env, burst=True)
    burst.wait(timeout=240)
    assert burst.returncode == 0, worker_log(env)
    db.expire_all()
    rows = {
        row.item_key: row.status
        for row in db.scalars(select(LedgerEntry).where(LedgerEntry.item_key.in_(claimed)))
    }
    assert set(rows.values()) == {"saved"}, rows
    counts = salesforce_counts(sandbox, sorted(claimed))
    assert sorted(counts.values()) == [1] * len(claimed), counts
    assert len(keys) == EMAILS
