"""Periodic work, declared as data in one place, and the RQ worker that runs it.

RQ's scheduler process (one holds the lock per cluster) also enqueues the periodic jobs: each
run of a job gets the id `periodic-<name>-<slot>` with `unique=True`, so however many
schedulers race, or if Redis was flushed, each slot runs once and the next slot comes anyway.
"""

from __future__ import annotations

import logging
import os
import socket
import time
from dataclasses import dataclass
from datetime import UTC

import click
from flask import Flask, current_app
from redis import Redis
from rq import SimpleWorker, Worker
from rq.scheduler import RQScheduler

from .metrics import flush_metrics
from .queues import QUEUE_NAMES, all_queues, enqueue, get_redis

log = logging.getLogger(__name__)

HEARTBEAT_KEY = "courier:heartbeat:tick"


@dataclass(frozen=True)
class Periodic:
    name: str
    func: str  # dotted path, run by a worker inside the app context
    interval_seconds: int
    queue: str = "periodic"
    timeout: int = 120


PERIODIC: tuple[Periodic, ...] = (
    Periodic("tick", "server.periodic.tick", interval_seconds=60),
    Periodic("retention", "server.retention.prune", interval_seconds=3600, timeout=900),
    # Hourly look for organisations whose directory copy is older than 24 hours (admin console).
    Periodic(
        "directory",
        "server.admin.directory.refresh_due_directories",
        interval_seconds=3600,
        timeout=600,
    ),
)


def enqueue_due(connection: Redis, now: float | None = None) -> list[str]:
    """Enqueue the current slot of every periodic job; returns the ids that were new."""
    now = time.time() if now is None else now
    enqueued = []
    for spec in PERIODIC:
        job_id = f"periodic-{spec.name}-{int(now // spec.interval_seconds)}"
        job = enqueue(
            spec.func,
            queue=spec.queue,
            job_id=job_id,
            timeout=spec.timeout,
            # The id must stay taken for the whole slot, so a finished job is not re-run.
            keep_ended=True,
            result_ttl=spec.interval_seconds * 2,
            failure_ttl=spec.interval_seconds * 2,
            connection=connection,
        )
        if job is not None:
            enqueued.append(job_id)
    return enqueued


def tick() -> None:
    """Every minute: record the scheduler heartbeat, then run what is due."""
    get_redis().set(HEARTBEAT_KEY, repr(time.time()))
    for hook in current_app.extensions.get("tick_hooks", []):
        try:
            hook()
        except Exception:  # one failing hook must not starve the others
            log.exception("tick hook %s failed", getattr(hook, "__name__", hook))


def register_tick_hook(app: Flask, hook) -> None:
    """Parts of the app add work to the minute tick here (e.g. sync scheduling)."""
    app.extensions.setdefault("tick_hooks", []).append(hook)


class PeriodicScheduler(RQScheduler):
    def enqueue_scheduled_jobs(self):
        enqueue_due(self.connection)
        return super().enqueue_scheduled_jobs()


class AppContextPerJob:
    """Each job runs in a fresh app context, so nothing (a database session, `g`) leaks from
    one job into the next when jobs share a process; its metrics are sent when it ends."""

    def perform_job(self, job, queue):
        app = current_app._get_current_object()
        with app.app_context():
            try:
                return super().perform_job(job, queue)
            finally:
                flush_metrics(app)  # the job's counts, before a work-horse exits


class CourierSimpleWorker(AppContextPerJob, SimpleWorker):
    """Runs jobs in its own process (tests, benchmarks)."""


class CourierWorker(AppContextPerJob, Worker):
    """An RQ worker whose scheduler also enqueues the periodic jobs."""

    def _start_scheduler(
        self, burst=False, logging_level="INFO", date_format=None, log_format=None
    ):
        kwargs = {"logging_level": logging_level}
        if date_format:
            kwargs["date_format"] = date_format
        if log_format:
            kwargs["log_format"] = log_format
        self.scheduler = PeriodicScheduler(
            self.queues, connection=self.connection, serializer=self.serializer, **kwargs
        )
        self.scheduler.acquire_locks()
        if self.scheduler.acquired_locks:
            if burst:
                try:
                    self.scheduler.register_birth()
                    self.scheduler.enqueue_scheduled_jobs()
                finally:
                    self.scheduler.release_locks()
                    self.scheduler.register_death()
            else:
                self.scheduler.start()


class CourierNoForkWorker(AppContextPerJob, SimpleWorker):
    """`flask worker --no-fork`: jobs in the worker's own process (a fresh app context each)
    with the same scheduler as CourierWorker."""

    _start_scheduler = CourierWorker._start_scheduler


@click.command("worker", help="Run an RQ worker (with the scheduler) inside the app context.")
@click.option("--burst", is_flag=True, help="Exit when the queues are empty.")
@click.option("--no-scheduler", is_flag=True, help="Do not run the scheduler in this worker.")
@click.option("--name", default=None, help="Worker name (default: RQ's).")
@click.option(
    "--no-fork",
    is_flag=True,
    help="Run jobs in this process instead of a forked child per job (a fork costs far "
    "more CPU than an idle sync session; see the README's fleet figures).",
)
def worker_command(burst: bool, no_scheduler: bool, name: str | None, no_fork: bool) -> None:
    kind = CourierNoForkWorker if no_fork else CourierWorker
    worker = kind(all_queues(), connection=get_redis(), name=name)
    worker.work(burst=burst, with_scheduler=not no_scheduler, logging_level="INFO")


def _running_here(pid: int | None) -> bool:
    if not pid:
        return False
    try:
        os.kill(pid, 0)  # signal 0: only asks whether the process exists
    except ProcessLookupError:
        return False
    except PermissionError:  # exists, owned by someone else
        return True
    return True


def local_worker_heartbeat_age(connection: Redis) -> float | None:
    """Seconds since the newest RQ heartbeat of a worker registered from this host (this
    container) whose process is still alive here; None when there is none. A worker killed
    without a goodbye stays registered in Redis until its key expires, hence the process check."""
    host, now, ages = socket.gethostname(), time.time(), []
    for worker in Worker.all(connection=connection):
        beat = worker.last_heartbeat
        if worker.hostname != host or beat is None or not _running_here(worker.pid):
            continue
        ages.append(now - (beat if beat.tzinfo else beat.replace(tzinfo=UTC)).timestamp())
    return min(ages) if ages else None


@click.command(
    "worker-health",
    help="Exit 0 when an RQ worker of this host (container) is alive and its heartbeat in Redis "
    "is fresh; the worker's compose health check.",
)
def worker_health_command() -> None:
    from .health import WORKER_MAX_AGE_SECONDS

    try:
        age = local_worker_heartbeat_age(get_redis())
    except Exception as exc:  # Redis unreachable: the worker cannot work either
        raise click.ClickException(f"Redis is not reachable ({type(exc).__name__})") from None
    if age is None:
        raise click.ClickException(f"no live worker of {socket.gethostname()} is registered")
    if age > WORKER_MAX_AGE_SECONDS:
        raise click.ClickException(f"the worker's last heartbeat is {age:.0f} s old")
    click.echo(f"worker alive, heartbeat {age:.0f} s ago")


def init_app(app: Flask) -> None:
    app.cli.add_command(worker_command)
    app.cli.add_command(worker_health_command)


__all__ = ["PERIODIC", "Periodic", "QUEUE_NAMES", "enqueue_due", "tick", "register_tick_hook"]
