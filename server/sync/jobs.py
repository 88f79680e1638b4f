"""Enqueueing sync sessions: one job per mailbox, id `sync-<user id>`, RQ unique=True."""

from __future__ import annotations

from flask import current_app
from rq.exceptions import NoSuchJobError
from rq.job import Job, JobStatus

from ..queues import enqueue, get_redis

# A job in one of these states still holds its id; anything else may be replaced.
_LIVE = {JobStatus.QUEUED, JobStatus.STARTED, JobStatus.DEFERRED, JobStatus.SCHEDULED}


def job_id_for(user_id: int) -> str:
    return f"sync-{user_id}"


def current_job(user_id: int) -> Job | None:
    try:
        return Job.fetch(job_id_for(user_id), connection=get_redis())
    except NoSuchJobError:
        return None


def enqueue_session(user_id: int, trigger: str = "schedule") -> Job | None:
    """Enqueue the user's session unless one is queued or running (then None). A finished or
    failed job's id is released first, since RQ keeps it for result_ttl/failure_ttl."""
    job = current_job(user_id)
    if job is not None:
        status = job.get_status(refresh=True)
        if status in _LIVE:
            return None
        job.delete()
    return enqueue(
        "server.sync.session.run_session",
        user_id,
        trigger,
        queue="sync",
        job_id=job_id_for(user_id),
        timeout=current_app.config["SYNC_JOB_TIMEOUT_SECONDS"],
    )


def release_dead_job(user_id: int) -> bool:
    """Forget the job of a session whose worker died, so the session can be enqueued again."""
    job = current_job(user_id)
    if job is None:
        return False
    job.delete()
    return True
