"""Redis and RQ: the one owner of the Redis connection and the named queues.

Jobs are enqueued through one helper per job (in the module that owns the job), each calling
`enqueue()` here with a deterministic id where one-at-a-time matters.

RQ refuses a job id (`unique=True`) while any record of it exists, and it keeps records of
ended jobs for result_ttl / failure_ttl. So `enqueue()` first releases an id whose job is no
longer live (finished, failed, stopped, canceled), under a short per-id Redis lock so that two
enqueuers cannot release each other's fresh job.
https://python-rq.org/docs/jobs/#job-status , https://python-rq.org/docs/results/
"""

from __future__ import annotations

from typing import Any

from flask import Flask, current_app
from redis import Redis
from rq import Queue, Retry
from rq.exceptions import DuplicateJobError, NoSuchJobError
from rq.job import Job, JobStatus

QUEUE_NAMES = ("saves", "sync", "default")  # listened to in this order of priority
# A job in one of these states still holds its id; any other record may be replaced.
LIVE = frozenset({JobStatus.QUEUED, JobStatus.STARTED, JobStatus.DEFERRED, JobStatus.SCHEDULED})


REDIS_URL_MISSING = (
    "REDIS_URL is empty: run through `make run` (it starts an embedded Redis) or set it"
)


def init_app(app: Flask) -> None:
    url = app.config["REDIS_URL"]
    # Without a URL the app still builds, so commands that need no Redis (render-manifest,
    # db upgrade, seed-demo) work; the first use of Redis then fails with the message above.
    if url:
        app.extensions["redis"] = Redis.from_url(url, socket_timeout=10, socket_connect_timeout=5)


def get_redis() -> Redis:
    redis = current_app.extensions.get("redis")
    if redis is None:
        raise RuntimeError(REDIS_URL_MISSING)
    return redis


def get_queue(name: str = "default") -> Queue:
    if name not in QUEUE_NAMES:
        raise ValueError(f"unknown queue {name!r}")
    return Queue(name, connection=get_redis())


def all_queues() -> list[Queue]:
    return [get_queue(name) for name in QUEUE_NAMES]


def live_job(job_id: str, connection: Redis | None = None) -> Job | None:
    """The job holding `job_id` if it is queued, running, deferred or scheduled (else None)."""
    try:
        job = Job.fetch(job_id, connection=connection or get_redis())
    except NoSuchJobError:
        return None
    return job if job.get_status(refresh=False) in LIVE else None


def release_ended(job_id: str, connection: Redis | None = None) -> bool:
    """Delete the record of `job_id` when its job is no longer live; True when one was."""
    connection = connection or get_redis()
    try:
        job = Job.fetch(job_id, connection=connection)
    except NoSuchJobError:
        return False
    if job.get_status(refresh=False) in LIVE:
        return False
    job.delete()
    return True


def enqueue(
    func: str,
    *args: Any,
    queue: str = "default",
    job_id: str | None = None,
    timeout: int = 600,
    retry: Retry | None = None,
    result_ttl: int = 3600,
    failure_ttl: int = 7 * 24 * 3600,
    keep_ended: bool = False,
    connection: Redis | None = None,
    **kwargs: Any,
) -> Job | None:
    """Enqueue `func` (dotted path); the one way every job is enqueued.

    With a job id the job is unique: while one with that id is live (queued, running, waiting
    for a retry) a second enqueue returns None instead of duplicating it. An ended job's
    record is released first, so a finished or failed job's id can run again; `keep_ended`
    keeps it instead (periodic slots: a slot that ran must not run twice)."""
    if queue not in QUEUE_NAMES:
        raise ValueError(f"unknown queue {queue!r}")
    connection = connection or get_redis()
    rq_queue = Queue(queue, connection=connection)
    call = (func, args, kwargs, job_id, timeout, retry, result_ttl, failure_ttl)
    if job_id is None:
        return _enqueue_call(rq_queue, *call)
    # Release and enqueue under one lock per id: every enqueue of this id comes through here,
    # so nobody can put a fresh job under the id between our check and our delete.
    with connection.lock(f"courier:enqueue-lock:{job_id}", timeout=30, blocking_timeout=30):
        if not keep_ended:
            release_ended(job_id, connection)
        return _enqueue_call(rq_queue, *call)


def _enqueue_call(
    rq_queue: Queue,
    func: str,
    args: tuple,
    kwargs: dict,
    job_id: str | None,
    timeout: int,
    retry: Retry | None,
    result_ttl: int,
    failure_ttl: int,
) -> Job | None:
    try:
        return rq_queue.enqueue_call(
            func,
            args=args,
            kwargs=kwargs,
            job_id=job_id,
            unique=job_id is not None,
            timeout=timeout,
            retry=retry,
            result_ttl=result_ttl,
            failure_ttl=failure_ttl,
        )
    except DuplicateJobError:
        return None
