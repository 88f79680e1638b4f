"""The RQ queues for the Jobs page — what rq-dashboard shows for them: each queue's depth
with its waiting jobs, running jobs, failed jobs with their error (retry or delete, one or
all), scheduled and deferred jobs, and the workers with their state, current job and
heartbeat. Jobs carry ids only, so listing them shows no mail data."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime

from rq import Worker
from rq.job import Job
from rq.registry import FailedJobRegistry

from ..queues import QUEUE_NAMES, get_queue, get_redis

FAILED_SHOWN = 50
SHOWN = 20  # waiting, scheduled: the first ones


def _iso(moment: datetime | None) -> str:
    if moment is None:
        return ""
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=UTC)
    return moment.isoformat(timespec="seconds")


@dataclass(frozen=True)
class JobLine:
    id: str
    queue: str
    func: str
    args: str
    started_at: str
    ended_at: str
    error: str


def _line(job: Job, queue: str) -> JobLine:
    error = (job.exc_info or "").strip().splitlines()
    return JobLine(
        id=job.id,
        queue=queue,
        func=job.func_name or "",
        args=", ".join(repr(a) for a in (job.args or ()))[:120],
        started_at=_iso(job.started_at),
        ended_at=_iso(job.ended_at),
        error=error[-1][:300] if error else "",
    )


def queue_summary() -> list[dict]:
    out = []
    for name in QUEUE_NAMES:
        queue = get_queue(name)
        running_ids = queue.started_job_registry.get_job_ids()
        failed_ids = queue.failed_job_registry.get_job_ids(0, FAILED_SHOWN - 1)
        scheduled = queue.scheduled_job_registry
        scheduled_ids = scheduled.get_job_ids(0, SHOWN - 1)
        out.append(
            {
                "name": name,
                "queued": queue.count,
                "waiting": [_line(j, name) for j in _fetch(queue.get_job_ids(0, SHOWN))],
                "running": [_line(j, name) for j in _fetch(running_ids)],
                "failed_count": queue.failed_job_registry.count,
                "failed": [_line(j, name) for j in _fetch(failed_ids)],
                "scheduled_count": scheduled.count,
                "scheduled": [
                    (_line(j, name), _iso(scheduled.get_scheduled_time(j.id)))
                    for j in _fetch(scheduled_ids)
                ],
                "deferred_count": queue.deferred_job_registry.count,
                "finished_count": queue.finished_job_registry.count,
            }
        )
    return out


def workers() -> list[dict]:
    """Every worker registered in Redis: name, state, queues, current job, heartbeat."""
    out = []
    for worker in Worker.all(connection=get_redis()):
        out.append(
            {
                "name": worker.name,
                "state": worker.get_state(),
                "queues": ", ".join(worker.queue_names()),
                "current_job": worker.get_current_job_id() or "",
                "last_heartbeat": _iso(worker.last_heartbeat),
                "birth": _iso(worker.birth_date),
                "successful": worker.successful_job_count,
                "failed": worker.failed_job_count,
            }
        )
    return sorted(out, key=lambda w: w["name"])


def _fetch(ids: list[str]) -> list[Job]:
    return [j for j in Job.fetch_many(ids, connection=get_redis()) if j is not None]


def _failed(queue: str, job_id: str) -> tuple[FailedJobRegistry, bool]:
    registry = get_queue(queue).failed_job_registry
    return registry, job_id in registry.get_job_ids()


def retry_failed(queue: str, job_id: str) -> bool:
    registry, found = _failed(queue, job_id)
    if found:
        registry.requeue(job_id)
    return found


def delete_failed(queue: str, job_id: str) -> bool:
    registry, found = _failed(queue, job_id)
    if found:
        registry.remove(job_id, delete_job=True)
    return found


def retry_all_failed(queue: str) -> int:
    registry = get_queue(queue).failed_job_registry
    ids = registry.get_job_ids()
    for job_id in ids:
        registry.requeue(job_id)
    return len(ids)


def delete_all_failed(queue: str) -> int:
    registry = get_queue(queue).failed_job_registry
    ids = registry.get_job_ids()
    for job_id in ids:
        registry.remove(job_id, delete_job=True)
    return len(ids)
