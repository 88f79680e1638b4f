"""The one enqueue (server/queues.py): unique ids, released ended records, kept slots, Retry,
and batches; real Redis, and real processes for the concurrent case."""

from __future__ import annotations

import multiprocessing

from redis import Redis
from rq import Queue, Retry, SimpleWorker
from rq.job import Job
from rq.registry import FailedJobRegistry, FinishedJobRegistry

from server.queues import enqueue, enqueue_many, job_data

FUNC = "builtins.len"  # a real, importable job function: len("abc") finishes at once
IDS = [f"batch-{n}" for n in range(300)]


def _finish(redis: Redis, queue: str = "default") -> None:
    """Run every queued job of `queue` to its end with RQ's own worker."""
    SimpleWorker([Queue(queue, connection=redis)], connection=redis).work(burst=True)


def test_a_live_id_is_refused_and_an_ended_one_runs_again(redis_client):
    first = enqueue(FUNC, "abc", job_id="unique-1", connection=redis_client)
    assert first is not None
    assert enqueue(FUNC, "abc", job_id="unique-1", connection=redis_client) is None
    _finish(redis_client)
    finished = FinishedJobRegistry("default", connection=redis_client)
    assert Job.fetch("unique-1", connection=redis_client).get_status() == "finished"
    assert "unique-1" in finished.get_job_ids()
    again = enqueue(FUNC, "abcd", job_id="unique-1", connection=redis_client)
    assert again is not None
    # The ended record was released the way Job.delete does: out of its registry, fresh hash.
    assert "unique-1" not in finished.get_job_ids()
    job = Job.fetch("unique-1", connection=redis_client)
    assert (job.get_status(), job.args, job.ended_at) == ("queued", ("abcd",), None)
    assert Queue("default", connection=redis_client).job_ids == ["unique-1"]


def test_a_failed_record_is_released_and_a_kept_slot_is_not(redis_client):
    enqueue("builtins.int", "not a number", job_id="fails", connection=redis_client)
    enqueue(FUNC, "x", job_id="slot", keep_ended=True, connection=redis_client)
    _finish(redis_client)
    failed = FailedJobRegistry("default", connection=redis_client)
    assert failed.get_job_ids() == ["fails"]
    assert enqueue(FUNC, "x", job_id="slot", keep_ended=True, connection=redis_client) is None
    assert enqueue(FUNC, "x", job_id="fails", connection=redis_client) is not None
    assert failed.get_job_ids() == []


def test_a_job_waiting_in_the_overtaken_queue_moves_ahead_and_a_taken_one_stays(redis_client):
    """`overtake`: an id still waiting in the lower queue leaves it for the higher one (one
    copy queued, with the new arguments); an id a worker already took out of the lower
    queue stays the live job; an id ended in the lower queue is released from its registry."""
    low, high = (Queue(name, connection=redis_client) for name in ("sync", "sync-fresh"))
    made = enqueue_many(
        [job_data(FUNC, "a", job_id=i) for i in ("o-1", "o-2", "o-3")],
        "sync",
        connection=redis_client,
    )
    assert all(o.job for o in made)
    assert low.job_ids == ["o-1", "o-2", "o-3"]
    assert redis_client.lpop(low.key) == b"o-1"  # as a worker dequeues it, before it starts
    outcomes = enqueue_many(
        [job_data(FUNC, "bb", job_id=i) for i in ("o-1", "o-2", "o-2")],
        "sync-fresh",
        connection=redis_client,
        overtake="sync",
    )
    assert [(o.job is not None, o.held_by) for o in outcomes] == [
        (False, "queued"),  # taken by a worker: it runs, and reads what the new one would
        (True, None),
        (False, "queued"),  # the same id twice in one batch: queued once
    ]
    assert (low.job_ids, high.job_ids) == (["o-3"], ["o-2"])
    job = Job.fetch("o-2", connection=redis_client)
    assert (job.origin, job.args) == ("sync-fresh", ("bb",))
    # Without `overtake` a waiting job holds its id whatever the queue asked for.
    again = [job_data(FUNC, "c", job_id="o-3")]
    assert enqueue_many(again, "sync-fresh", connection=redis_client)[0].held_by == "queued"
    _finish(redis_client, "sync")
    assert "o-3" in FinishedJobRegistry("sync", connection=redis_client).get_job_ids()
    assert enqueue_many(again, "sync-fresh", connection=redis_client, overtake="sync")[0].job
    assert FinishedJobRegistry("sync", connection=redis_client).get_job_ids() == []
    assert high.job_ids == ["o-2", "o-3"]


def test_retry_and_settings_reach_the_job(redis_client):
    job = enqueue(
        FUNC,
        "abc",
        job_id="retried",
        queue="saves",
        retry=Retry(max=3, interval=[1, 2, 4]),
        timeout=77,
        result_ttl=11,
        connection=redis_client,
    )
    stored = Job.fetch(job.id, connection=redis_client)
    assert (stored.retries_left, stored.retry_intervals) == (3, [1, 2, 4])
    assert (stored.timeout, stored.result_ttl, stored.origin) == (77, 11, "saves")
    assert Queue("saves", connection=redis_client) in Queue.all(connection=redis_client)


def test_a_batch_enqueues_in_order_and_says_what_holds_each_refused_id(redis_client):
    enqueue(FUNC, "x", job_id="done", connection=redis_client)
    _finish(redis_client)
    enqueue(FUNC, "x", job_id="waiting", connection=redis_client)
    outcomes = enqueue_many(
        [job_data(FUNC, "y", job_id=i) for i in ("new", "waiting", "done", "new")]
        + [job_data(FUNC, "z")],  # no id: never refused
        connection=redis_client,
    )
    assert [o.job is not None for o in outcomes] == [True, False, True, False, True]
    assert [o.held_by for o in outcomes] == [None, "queued", None, "queued", None]
    queue = Queue("default", connection=redis_client)
    assert queue.job_ids == ["waiting", "new", "done", outcomes[4].job.id]


def test_a_batch_larger_than_one_script_call(redis_client):
    outcomes = enqueue_many(
        [job_data(FUNC, "x", job_id=i) for i in IDS * 4], connection=redis_client
    )
    assert sum(o.job is not None for o in outcomes) == len(IDS)
    assert Queue("default", connection=redis_client).job_ids == IDS


def _enqueue_all(url: str, start, results) -> None:
    redis = Redis.from_url(url)
    start.wait(timeout=60)
    outcomes = enqueue_many([job_data(FUNC, "x", job_id=i) for i in IDS], connection=redis)
    results.put(sum(o.job is not None for o in outcomes))


def test_two_processes_enqueueing_the_same_ids_queue_each_once(redis_client, redis_url):
    """Two schedulers' ticks at once, half the ids with an ended record to release: every id
    is queued exactly once, and between them the two processes queued each id once."""
    enqueue_many([job_data(FUNC, "x", job_id=i) for i in IDS[::2]], connection=redis_client)
    _finish(redis_client)
    ctx = multiprocessing.get_context("spawn")
    start, results = ctx.Event(), ctx.Queue()
    procs = [ctx.Process(target=_enqueue_all, args=(redis_url, start, results)) for _ in range(4)]
    for proc in procs:
        proc.start()
    start.set()
    counts = [results.get(timeout=120) for _ in procs]
    for proc in procs:
        proc.join(timeout=60)
    assert sum(counts) == len(IDS)
    assert sorted(Queue("default", connection=redis_client).job_ids) == sorted(IDS)
    assert FinishedJobRegistry("default", connection=redis_client).get_job_ids() == []
