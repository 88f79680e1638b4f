"""Enqueueing sync sessions: one job per mailbox, id `sync-<user id>`, RQ unique=True."""

from __future__ import annotations

from flask import current_app
from rq.exceptions import NoSuchJobError
from rq.job import Job, JobStatus

from ..queues import enqueue, get_redis, live_job

# A rerun request outlives no session: if the worker died, the next tick reads anyway.
RERUN_FLAG_SECONDS = 3600


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
    """Enqueue the user's session unless one is queued or running (then None); the one
    enqueue releases a finished or failed job's id first.

    A running session may already be past the folder a notification is about: it is asked
    to read once more before it ends (see `rerun_requested`), so the change is not left to
    the next poll."""
    job = live_job(job_id_for(user_id))
    if job is not None:
        if job.get_status(refresh=False) == JobStatus.STARTED and trigger != "schedule":
            get_redis().set(rerun_key(user_id), trigger, ex=RERUN_FLAG_SECONDS)
        return None
    return enqueue(
        "server.sync.session.run_session",
        user_id,
        trigger,
        queue="sync",
        job_id=job_id_for(user_id),
        timeout=current_app.config["SYNC_JOB_TIMEOUT_SECONDS"],
    )


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
