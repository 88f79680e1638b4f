from __future__ import annotations

import time

from rq import SimpleWorker

from server.periodic import HEARTBEAT_KEY, PERIODIC, enqueue_due
from server.queues import all_queues, enqueue, get_redis


def note_whether_the_tick_ran() -> None:
    """A job standing for a sync session: notes whether the tick's heartbeat was there."""
    get_redis().rpush("test:tick-seen", int(get_redis().exists(HEARTBEAT_KEY)))


def test_healthz_answers(client):
    response = client.get("/healthz")
    assert response.status_code == 200
    assert response.get_json() == {"status": "ok"}


def test_readyz_is_503_without_worker_and_scheduler(client):
    response = client.get("/readyz")
    assert response.status_code == 503
    body = response.get_json()
    assert body["checks"]["database"]["ok"] is True
    assert body["checks"]["redis"]["ok"] is True
    assert body["checks"]["worker"]["ok"] is False
    assert body["checks"]["scheduler"]["ok"] is False


def test_readyz_is_200_once_a_worker_ran_the_tick(client, redis_client):
    enqueue_due(redis_client)
    # A registered (non-burst) worker leaves its heartbeat; the tick job leaves the scheduler's.
    SimpleWorker(all_queues(), connection=redis_client).work(burst=True)
    worker = SimpleWorker(all_queues(), connection=redis_client)  # a live, idle worker
    worker.register_birth()
    try:
        worker.heartbeat()
        body = client.get("/readyz").get_json()
        assert body["checks"]["scheduler"]["ok"], body
        assert body["checks"]["worker"]["ok"], body
        assert client.get("/readyz").status_code == 200
    finally:
        worker.register_death()


def test_readyz_reports_a_stale_scheduler(client, redis_client):
    redis_client.set(HEARTBEAT_KEY, repr(time.time() - 3600))
    body = client.get("/readyz").get_json()
    assert body["checks"]["scheduler"]["ok"] is False
    assert body["checks"]["scheduler"]["heartbeat_age_seconds"] >= 3600


def test_readyz_reports_unreachable_redis(database_url, tmp_path):
    from server.redis_server import free_port
    from tests.conftest import make_test_app

    app = make_test_app(database_url, f"redis://127.0.0.1:{free_port()}/0")
    response = app.test_client().get("/readyz")
    assert response.status_code == 503
    assert response.get_json()["checks"]["redis"]["ok"] is False


def test_each_periodic_slot_runs_once_even_across_schedulers(app, redis_client):
    now = 1_800_000_000.0
    first = enqueue_due(redis_client, now)
    assert len(first) == len(PERIODIC)
    assert enqueue_due(redis_client, now + 1) == []  # same slot, another scheduler
    later = enqueue_due(redis_client, now + 60)
    new_slot = [
        p for p in PERIODIC if (now + 60) // p.interval_seconds != now // p.interval_seconds
    ]
    assert len(later) == len(new_slot) >= 1
    # One longest interval later every job has a new slot.
    later = enqueue_due(redis_client, now + max(p.interval_seconds for p in PERIODIC))
    assert len(later) == len(PERIODIC)


def test_the_tick_is_taken_before_a_backlog_of_sessions(app, redis_client, run_jobs):
    """With sessions waiting in every sync queue, a worker's next job is the minute tick: the
    heartbeat /readyz reads, the reaper and the due polls never wait for a backlog to drain."""
    for queue in ("sync-fresh", "sync", "default"):
        for _ in range(3):
            enqueue("tests.integration.test_health.note_whether_the_tick_ran", queue=queue)
    enqueue_due(redis_client)
    run_jobs()
    assert redis_client.lrange("test:tick-seen", 0, -1) == [b"1"] * 9


def test_a_flushed_redis_gets_its_periodic_work_back(app, redis_client, run_jobs):
    enqueue_due(redis_client)
    redis_client.flushall()
    assert redis_client.get(HEARTBEAT_KEY) is None
    enqueue_due(redis_client)
    run_jobs()
    assert redis_client.get(HEARTBEAT_KEY) is not None


def test_start_page_links_what_exists_for_the_configured_crm(client):
    page = client.get("/").get_data(as_text=True)
    assert "Courier is running" in page
    assert 'href="/crm/' in page
    assert "Connect Salesforce" not in page
    assert 'href="/preview"' in page


def test_start_page_offers_salesforce_connection_when_it_is_the_crm(database_url, redis_url):
    from tests.conftest import make_test_app

    app = make_test_app(database_url, redis_url, CRM_ADAPTER="salesforce")
    page = app.test_client().get("/").get_data(as_text=True)
    assert 'href="/crm/salesforce/connect"' in page
    assert 'href="/crm/' not in page.replace('href="/crm/salesforce/', "")
