"""Redis and RQ: the one owner of the Redis connection and the named queues.

Jobs are enqueued through one helper per job (in the module that owns the job), each calling
`enqueue()` here (one job) or `enqueue_many()` (a batch, e.g. a tick's due sessions): the same
path, `enqueue()` is a batch of one.

A job with an id is unique: RQ keeps the record of an ended job for result_ttl / failure_ttl,
so the id is refused while a *live* job (queued, started, deferred, scheduled) holds it, and
an ended job's record is released first so the id can run again (`keep_ended` keeps it).
The check, the release and the enqueue are one Lua script per batch: atomic in Redis (no
enqueuer can slip a fresh job in between, and no lock is needed), and one round trip for a
whole batch instead of several per job. https://redis.io/docs/latest/develop/interact/programmability/eval-intro/
A batch may also take over ids still *waiting* in a lower-priority queue (`overtake`): each
such job leaves that queue and its fresh copy joins this one, in the same script, so one id
is still queued once (sync sessions someone waits for overtake the safety polls).
https://python-rq.org/docs/jobs/#job-status , https://python-rq.org/docs/results/
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any, NamedTuple

from flask import Flask, current_app
from redis import Redis
from rq import Queue, Retry
from rq.executions import ExecutionRegistry
from rq.job import Job, JobStatus
from rq.queue import EnqueueData
from rq.registry import CanceledJobRegistry, FailedJobRegistry, FinishedJobRegistry
from rq.utils import now

# Listened to in this order of priority: "periodic" holds the minute tick (the scheduler's
# heartbeat that /readyz reads, the reaper, the due polls) and the hourly jobs, so a backlog of
# sessions never delays them; "sync-fresh" holds the sessions someone waits for (a change
# notification, "Sync now", a thread switched on), "sync" the scheduler's polls.
QUEUE_NAMES = ("periodic", "saves", "sync-fresh", "sync", "default")
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


class Outcome(NamedTuple):
    """One job of a batch: the job queued, or None and the status of the job holding its id
    (a live one, or an ended one kept by `keep_ended`)."""

    job: Job | None
    held_by: str | None = None


# Per batch: KEYS = queue list, queues set, the overtaken queue's list, the finished / failed /
# canceled registries of the queue then of the overtaken queue (a sync session's ended record
# may sit in either; without `overtake` the queue stands for it), then per job its hash, dependents,
# dependencies and executions keys (all named by RQ's own classes); ARGV = keep_ended,
# the queue's key (a member of the queues set), overtake ('1' or '0'), then per job its id, the
# count of its hash's field/value strings and those strings (Job.to_dict, as RQ saves them).
# An ended record is released as Job.delete does (its worker already closed its execution);
# so is a queued one still in the overtaken queue's list (LREM found it there: no worker took
# it, one that already popped it keeps it as the live job); then the job is saved and
# pushed, as RQ's own unique enqueue script does.
_ENQUEUE = """
local live = {LIVE}
local out, arg = {}, 4
for k = 10, #KEYS, 4 do
  local id, n = ARGV[arg], tonumber(ARGV[arg + 1])
  local status = false
  if redis.call('EXISTS', KEYS[k]) == 1 then
    status = redis.call('HGET', KEYS[k], 'status') or ''
  end
  local held = status and (live[status] or ARGV[1] == '1')
  if held and status == 'queued' and ARGV[3] == '1' then
    held = redis.call('LREM', KEYS[3], 0, id) == 0
  end
  if held then
    out[#out + 1] = status
  else
    if status then
      for r = 4, 9 do redis.call('ZREM', KEYS[r], id) end
      redis.call('DEL', KEYS[k], KEYS[k + 1], KEYS[k + 2], KEYS[k + 3])
    end
    redis.call('HSET', KEYS[k], unpack(ARGV, arg + 2, arg + 1 + n))
    redis.call('RPUSH', KEYS[1], id)
    out[#out + 1] = 1
  end
  arg = arg + 2 + n
end
redis.call('SADD', KEYS[2], ARGV[2])
return out
"""
_ENQUEUE = _ENQUEUE.replace(
    "{LIVE}", "{" + ", ".join(f"{status.value} = true" for status in sorted(LIVE)) + "}"
)
# Jobs per script call: Redis runs a script alone, so a huge batch is split to keep each short.
CHUNK = 500


def job_data(
    func: str,
    *args: Any,
    job_id: str | None = None,
    timeout: int = 600,
    retry: Retry | None = None,
    result_ttl: int = 3600,
    failure_ttl: int = 7 * 24 * 3600,
    **kwargs: Any,
) -> EnqueueData:
    """One job of a batch for `enqueue_many` (RQ's own description of a job to create)."""
    return Queue.prepare_data(
        func,
        args=args,
        kwargs=kwargs,
        job_id=job_id,
        timeout=timeout,
        retry=retry,
        result_ttl=result_ttl,
        failure_ttl=failure_ttl,
    )


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
    """Enqueue `func` (dotted path); None when a live job holds `job_id`. A batch of one."""
    data = job_data(
        func,
        *args,
        job_id=job_id,
        timeout=timeout,
        retry=retry,
        result_ttl=result_ttl,
        failure_ttl=failure_ttl,
        **kwargs,
    )
    return enqueue_many([data], queue, keep_ended=keep_ended, connection=connection)[0].job


def enqueue_many(
    jobs: Sequence[EnqueueData],
    queue: str = "default",
    keep_ended: bool = False,
    connection: Redis | None = None,
    overtake: str | None = None,
) -> list[Outcome]:
    """Enqueue a batch of jobs (from `job_data`), in order; the one way every job is enqueued.

    With a job id a job is unique: while one with that id is live (queued, running, waiting
    for a retry) it is not enqueued again (its Outcome says which status holds it). An ended
    job's record is released first, so a finished or failed job's id can run again;
    `keep_ended` keeps it instead (periodic slots: a slot that ran must not run twice).
    `overtake`: a job with the same id still waiting in that (lower-priority) queue is taken
    out of it and replaced by this one, so the id stays queued once, here."""
    if queue not in QUEUE_NAMES or (overtake is not None and overtake not in QUEUE_NAMES):
        raise ValueError(f"unknown queue {queue!r} / {overtake!r}")
    connection = connection or get_redis()
    rq_queue = Queue(queue, connection=connection)
    script = connection.register_script(_ENQUEUE)
    out: list[Outcome] = []
    for start in range(0, len(jobs), CHUNK):
        made = [_create(rq_queue, data) for data in jobs[start : start + CHUNK]]
        other = overtake or queue
        keys = [
            rq_queue.key,
            Queue.redis_queues_keys,
            Queue(other, connection=connection).key,
            *(r(queue, connection=connection).key for r in _ENDED_REGISTRIES),
            *(r(other, connection=connection).key for r in _ENDED_REGISTRIES),
        ]
        argv: list = ["1" if keep_ended else "0", rq_queue.key, "1" if overtake else "0"]
        for job in made:
            keys += [
                job.key,
                job.dependents_key,
                job.dependencies_key,
                ExecutionRegistry(job.id, connection=connection).key,
            ]
            fields = _hash_fields(job)
            argv += [job.id, len(fields), *fields]
        answers = script(keys=keys, args=argv)
        out += [
            Outcome(job) if answer == 1 else Outcome(None, _text(answer))
            for job, answer in zip(made, answers, strict=True)
        ]
    return out


_ENDED_REGISTRIES = (FinishedJobRegistry, FailedJobRegistry, CanceledJobRegistry)


def _create(rq_queue: Queue, data: EnqueueData) -> Job:
    """The job as RQ's enqueue makes it (status, origin, time queued), not yet saved."""
    job = rq_queue.create_job(
        data.func,
        args=data.args,
        kwargs=data.kwargs,
        timeout=data.timeout,
        result_ttl=data.result_ttl,
        failure_ttl=data.failure_ttl,
        job_id=data.job_id,
        retry=data.retry,
        status=JobStatus.QUEUED,
    )
    job.origin = rq_queue.name
    job.enqueued_at = now()
    return job


def _hash_fields(job: Job) -> list:
    """The job's hash as field/value strings, as RQ's save writes it (None fields left out)."""
    fields: list = []
    for name, value in job.to_dict().items():
        if value is not None:
            fields += [name, value if isinstance(value, bytes | str) else str(value)]
    return fields


def _text(value) -> str:
    return value.decode() if isinstance(value, bytes) else str(value)
