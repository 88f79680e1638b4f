"""Redis and RQ: the one owner of the Redis connection and the named queues.

Jobs are enqueued through one helper per job (in the module that owns the job), each calling
`enqueue()` here with a deterministic id where one-at-a-time matters.
"""

from __future__ import annotations

from typing import Any

from flask import Flask, current_app
from redis import Redis
from rq import Queue, Retry
from rq.exceptions import DuplicateJobError
from rq.job import Job

QUEUE_NAMES = ("saves", "sync", "default")  # listened to in this order of priority


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


def enqueue(
    func: str,
    *args: Any,
    queue: str = "default",
    job_id: str | None = None,
    timeout: int = 600,
    retry: Retry | None = None,
    **kwargs: Any,
) -> Job | None:
    """Enqueue `func` (dotted path). With a job id the job is unique: while one with that id
    is queued or running, a second enqueue returns None instead of duplicating it."""
    try:
        return get_queue(queue).enqueue_call(
            func,
            args=args,
            kwargs=kwargs,
            job_id=job_id,
            unique=job_id is not None,
            timeout=timeout,
            retry=retry,
            result_ttl=3600,
            failure_ttl=7 * 24 * 3600,
        )
    except DuplicateJobError:
        return None
