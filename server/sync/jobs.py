"""Enqueueing sync sessions: one job per mailbox, id `sync-<user id>`, RQ unique=True.

Two queues, one id: the scheduler's polls wait in "sync"; a session someone waits for (a
change notification, "Sync now", a thread switched on) goes to "sync-fresh", which workers
take first, so fresh mail never queues behind a backlog of safety polls. A poll still waiting
when such a session is asked for is taken out of "sync" and replaced by it (queues.enqueue_many
`overtake`): a mailbox is still queued once, whichever queue holds it."""

from __future__ import annotations

from flask import current_app
from rq.exceptions import NoSuchJobError
from rq.job import Job, JobStatus

from ..queues import enqueue_many, get_redis, job_data

# A rerun request outlives no session: if the worker died, the next tick reads anyway.
RERUN_FLAG_SECONDS = 3600
POLL_QUEUE, FRESH_QUEUE = "sync", "sync-fresh"


def queue_for(trigger: str) -> str:
    """The scheduler's polls wait behind whatever someone is waiting for."""
    return POLL_QUEUE if trigger == "schedule" else FRESH_QUEUE


def job_id_for(user_id: int) -> str:
    return f"sync-{user_id}"


def current_job(user_id: int) -> Job | None:
    try:
        return Job.fetch(job_id_for(user_id), connection=get_redis())
    except NoSuchJobError:
        return None


def rerun_key(user_id: int) -> str:
    return f"courier:sync-rerun:{user_id}"


def enqueue_session(user_id: int, trigger: str = "schedule") -> Job | None:
    """Enqueue the user's session unless one is queued or running (then None)."""
    return enqueue_sessions([user_id], trigger)[0]


def enqueue_sessions(user_ids: list[int], trigger: str = "schedule") -> list[Job | None]:
    """Enqueue each user's session unless one is queued or running (then None), in one batch
    (a tick's due sessions: one Redis round trip, not several per mailbox); the one enqueue
    releases a finished or failed job's id first. A session someone waits for (any trigger
    but "schedule") takes the place of a poll still waiting, ahead of the other polls.

    A running session may already be past the folder a notification is about: it is asked
    to read once more before it ends (see `rerun_requested`), so the change is not left to
    the next poll."""
    timeout = current_app.config["SYNC_JOB_TIMEOUT_SECONDS"]
    outcomes = enqueue_many(
        [
            job_data(
                "server.sync.session.run_session",
                user_id,
                trigger,
                job_id=job_id_for(user_id),
                timeout=timeout,
            )
            for user_id in user_ids
        ],
        queue_for(trigger),
        overtake=None if trigger == "schedule" else POLL_QUEUE,
    )
    if trigger != "schedule":
        running = [
            uid
            for uid, outcome in zip(user_ids, outcomes, strict=True)
            if outcome.held_by == JobStatus.STARTED
        ]
        if running:
            with get_redis().pipeline(transaction=False) as pipe:
                for uid in running:
                    pipe.set(rerun_key(uid), trigger, ex=RERUN_FLAG_SECONDS)
                pipe.execute()
    return [outcome.job for outcome in outcomes]


def rerun_requested(user_id: int) -> bool:
    """Whether something asked for a new read while this user's session ran (consumed)."""
    return get_redis().getdel(rerun_key(user_id)) is not None


def release_dead_job(user_id: int) -> bool:
    """Forget the job of a session whose worker died, so the session can be enqueued again."""
    job = current_job(user_id)
    if job is None:
        return False
    job.delete()
    return True
