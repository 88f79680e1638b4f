"""The RQ queues for the Jobs page: depth, running and failed jobs (with their error), and
retry or delete of a failed job. Jobs carry ids only, so listing them shows no mail data."""

from __future__ import annotations

from dataclasses import dataclass

from rq.job import Job
from rq.registry import FailedJobRegistry

from ..queues import QUEUE_NAMES, get_queue, get_redis

FAILED_SHOWN = 50


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
        started_at=job.started_at.isoformat(timespec="seconds") if job.started_at else "",
        ended_at=job.ended_at.isoformat(timespec="seconds") if job.ended_at else "",
        error=error[-1][:300] if error else "",
    )


def queue_summary() -> list[dict]:
    out = []
    for name in QUEUE_NAMES:
        queue = get_queue(name)
        running_ids = queue.started_job_registry.get_job_ids()
        failed_ids = queue.failed_job_registry.get_job_ids(0, FAILED_SHOWN - 1)
        out.append(
            {
                "name": name,
                "queued": queue.count,
                "running": [_line(j, name) for j in _fetch(running_ids)],
                "failed_count": queue.failed_job_registry.count,
                "failed": [_line(j, name) for j in _fetch(failed_ids)],
            }
        )
    return out


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
