"""bench/fleet.py --tick-only: the scheduler alone at fleet scale, no workers.

Every mailbox synced once in the last safety interval (spread at random) with live
subscriptions; then a simulated hour of ticks, each due session recorded as finished at
once. Each tick's due sessions are queued in one batch (as the tick does), then, as a
same-run baseline, queued again one at a time (the queue emptied before and after)."""

from __future__ import annotations

import random
import time
from datetime import timedelta

from sqlalchemy import insert, select

from server.db import utcnow
from server.models.sync import GraphSubscription, SyncSession
from server.models.tenancy import User
from server.queues import get_queue
from server.sync.jobs import enqueue_session, enqueue_sessions
from server.sync.quiet_poll import enqueue_quiet_polls
from server.sync.scheduler import MAX_PER_TICK, due_user_ids, plan_tick
from server.sync.webhooks import resources_for


def tick_only(db, user_ids: list[int], minutes: int, safety_poll: int) -> dict:
    now, rng = utcnow(), random.Random(1)
    org_id = db.scalar(select(User.org_id).where(User.id == user_ids[0]))
    interval = timedelta(minutes=safety_poll)
    db.execute(
        insert(SyncSession),
        [finished_row(org_id, uid, now - interval * rng.random()) for uid in user_ids],
    )
    subs = [
        {
            "org_id": org_id,
            "user_id": uid,
            "resource": resource,
            "subscription_id": f"{uid}-{i}",
            "client_state": "x",
            "created_at": now,
            "expires_at": now + timedelta(days=2),
            "renew_at": now + timedelta(days=1),
        }
        for uid in user_ids
        for i, resource in enumerate(resources_for(User(object_id=str(uid))))
    ]
    db.execute(insert(GraphSubscription), subs)
    db.commit()
    for _ in range(0, len(user_ids), MAX_PER_TICK):
        due_user_ids(now)  # every row due at creation: one-off, moves each to its phase
    out: dict = {"tick_only": [], "tick_found": [], "tick_batch": [], "tick_cpu": []}
    out["tick_single"], out["tick_enqueued"] = [], 0
    queue = get_queue("sync")
    for minute in range(1, minutes + 1):
        sim = now + timedelta(minutes=minute)
        started, cpu = time.perf_counter(), time.thread_time()
        plan = plan_tick(sim)
        found = time.perf_counter()
        enqueue_sessions(plan.sessions, "schedule")
        enqueue_quiet_polls(plan.quiet)
        ended = time.perf_counter()
        due = [*plan.sessions, *plan.quiet]
        out["tick_cpu"].append((time.thread_time() - cpu) * 1000)
        out["tick_only"].append((ended - started) * 1000)
        out["tick_found"].append((found - started) * 1000)
        out["tick_batch"].append((ended - found) * 1000)
        out["tick_enqueued"] += len(due)
        queue.empty()
        single = time.perf_counter()
        for uid in due:
            enqueue_session(uid, "schedule")
        out["tick_single"].append((time.perf_counter() - single) * 1000)
        queue.empty()
        if due:
            db.execute(insert(SyncSession), [finished_row(org_id, uid, sim) for uid in due])
            db.commit()
    return out


def finished_row(org_id: int, uid: int, at) -> dict:
    return {
        "org_id": org_id,
        "user_id": uid,
        "status": "succeeded",
        "trigger": "schedule",
        "initial": False,
        "started_at": at,
        "heartbeat_at": at,
        "finished_at": at,
        "duration_ms": 0,
        "worker": "",
        "items_read": 0,
        "estimate": 0,
        "saved": 0,
        "created": 0,
        "skipped": 0,
        "errors": 0,
        "counts": {},
        "graph_requests": 1,
        "crm_calls": 0,
        "full_reads": 0,
        "error": "",
    }
