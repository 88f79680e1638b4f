"""/metrics: behind its token, and counting what web processes and worker processes did (the
worker here is a separate process, as in production, so its counters travel through Redis)."""

from __future__ import annotations

import subprocess
import sys
import time
from pathlib import Path

import pytest
from prometheus_client.parser import text_string_to_metric_families
from sqlalchemy import select

from server.models.sync import SyncSession
from server.sandbox.directory import DEMO_USERS
from server.sync.jobs import enqueue_session
from tests.conftest import make_test_app
from tests.integration.sync_helpers import FAST_RETRIES, configure_mailboxes, signed_in_user
from tests.integration.worker_processes import worker_env

TOKEN = "metrics-token-for-tests-0123456789abcdef"
AUTH = {"Authorization": f"Bearer {TOKEN}"}
ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture
def app_config(sandbox):
    return {**sandbox.settings(), **FAST_RETRIES, "METRICS_TOKEN": TOKEN}


def scrape(client) -> dict[tuple[str, tuple], float]:
    """Sample name + sorted labels -> value."""
    answer = client.get("/metrics", headers=AUTH)
    assert answer.status_code == 200, answer.data
    assert answer.mimetype == "text/plain"
    samples = {}
    for family in text_string_to_metric_families(answer.get_data(as_text=True)):
        for sample in family.samples:
            samples[(sample.name, tuple(sorted(sample.labels.items())))] = sample.value
    return samples


def value(samples, name: str, **labels) -> float:
    return samples.get((name, tuple(sorted((k, str(v)) for k, v in labels.items()))), 0.0)


def test_metrics_need_the_token(client):
    for headers in ({}, {"Authorization": "Bearer wrong"}, {"Authorization": TOKEN}):
        answer = client.get("/metrics", headers=headers)
        assert answer.status_code == 401
        assert answer.get_json()["error"] == "unauthorized"
    assert client.get("/metrics", headers=AUTH).status_code == 200


def test_metrics_are_off_without_a_token(database_url, redis_url, redis_client):
    app = make_test_app(database_url, redis_url)
    answer = app.test_client().get("/metrics", headers=AUTH)
    assert answer.status_code == 404
    assert answer.get_json()["error"] == "not_found"
    app.extensions["db_engine"].dispose()


def test_requests_are_counted_by_route_status_and_latency(client):
    for _ in range(3):
        assert client.get("/healthz").status_code == 200
    assert client.get("/no/such/page").status_code == 404
    samples = scrape(client)
    requests = "courier_http_requests_total"
    assert value(samples, requests, route="/healthz", method="GET", status=200) == 3
    assert value(samples, requests, route="unmatched", method="GET", status=404) == 1
    duration = "courier_http_request_duration_seconds"
    assert value(samples, f"{duration}_count", route="/healthz", method="GET") == 3
    assert value(samples, f"{duration}_bucket", route="/healthz", method="GET", le="+Inf") == 3
    assert value(samples, f"{duration}_sum", route="/healthz", method="GET") > 0


def test_a_worker_process_counts_sessions_saves_graph_calls_and_throttles(
    app, client, sandbox, db, tmp_path
):
    configure_mailboxes(sandbox, messages=80, events=6)
    user = signed_in_user(client, sandbox, db, DEMO_USERS[0])
    sandbox.control("/_sandbox/graph/faults", {"throttle_rate": 0.4, "retry_after": "0", "seed": 5})
    assert enqueue_session(user.id) is not None
    assert value(scrape(client), "courier_queue_depth", queue="sync") == 1

    worker = subprocess.run(
        [sys.executable, str(ROOT / "tests/integration/sync_worker_process.py"), "--burst"],
        env=worker_env(app, tmp_path),
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert worker.returncode == 0, worker.stderr[-3000:]
    served = sandbox.control("/_sandbox/graph/stats", method="GET")["by_kind"]
    sandbox.control("/_sandbox/graph/faults", {})
    db.expire_all()
    session = db.scalars(select(SyncSession).where(SyncSession.user_id == user.id)).one()
    assert session.status == "succeeded", session.error
    assert session.saved > 0 and served.get("fault_throttle", 0) > 0

    samples = scrape(client)
    assert value(samples, "courier_sync_sessions_total", outcome="succeeded") == 1
    assert value(samples, "courier_items_saved_total", source="sync") == session.saved
    throttled = value(samples, "courier_outbound_throttled_total", service="graph")
    assert throttled == served["fault_throttle"]
    assert (
        value(samples, "courier_outbound_requests_total", service="graph", status=429)
        == (served["fault_throttle"])
    )
    assert value(samples, "courier_outbound_requests_total", service="graph", status=200) > 0
    assert value(samples, "courier_queue_depth", queue="sync") == 0


def test_a_forked_work_horse_sends_its_jobs_counts_before_it_exits(
    app, client, sandbox, db, tmp_path
):
    """A job's counts are summed and sent when the job ends: RQ's forking worker runs it in a
    work-horse that ends with os._exit, where nothing sent later (atexit) would run."""
    configure_mailboxes(sandbox, messages=6, events=2)
    user = signed_in_user(client, sandbox, db, DEMO_USERS[0])
    before = sandbox.control("/_sandbox/graph/stats", method="GET")["requests"]
    assert enqueue_session(user.id) is not None
    worker = subprocess.Popen(
        [sys.executable, str(ROOT / "tests/integration/sync_worker_process.py"), "--burst"]
        + ["--fork"],
        env=worker_env(app, tmp_path),
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    _, errors = worker.communicate(timeout=300)
    assert worker.returncode == 0, errors[-3000:]
    graph_calls = sandbox.control("/_sandbox/graph/stats", method="GET")["requests"] - before
    db.expire_all()
    session = db.scalars(select(SyncSession).where(SyncSession.user_id == user.id)).one()
    assert session.status == "succeeded", session.error
    assert session.worker.rpartition(":")[2] != str(worker.pid)  # in a work-horse
    samples = scrape(client)
    assert value(samples, "courier_sync_sessions_total", outcome="succeeded") == 1
    assert value(samples, "courier_items_saved_total", source="sync") == session.saved > 0
    # Every HTTP answer Graph gave, and every answer inside its batches, counted once.
    counted = value(samples, "courier_outbound_requests_total", service="graph", status=200)
    assert counted >= graph_calls > 0


def test_a_pane_save_counts_once_and_a_repeat_does_not(client, db):
    from tests.integration.pane_fixtures import build_world, item

    world = build_world(db)
    body = {"item": item(), "links": [{"type": "contact", "id": world.ids["alice"]}]}
    assert client.post("/api/saves", json=body, headers=world.headers).status_code == 201
    again = client.post("/api/saves", json=body, headers=world.headers)
    assert again.get_json()["status"] == "already_saved"
    samples = scrape(client)
    assert value(samples, "courier_items_saved_total", source="pane") == 1
    saves = value(
        samples, "courier_http_requests_total", route="/api/saves", method="POST", status=201
    )
    assert saves == 1


def test_request_counts_reach_redis_without_a_scrape(client, redis_client):
    """Web processes sum request counts in memory and a background thread sends them: another
    process (a second gunicorn worker answering /metrics) sees them within the flush period."""
    from server.metrics import FLUSH_SECONDS, KEY_PREFIX

    for _ in range(4):
        assert client.get("/healthz").status_code == 200
    field = '["/healthz", "GET", "200"]'
    deadline = time.monotonic() + FLUSH_SECONDS * 10
    while int(redis_client.hget(KEY_PREFIX + "courier_http_requests", field) or 0) != 4:
        assert time.monotonic() < deadline, "the request counts never reached Redis"
        time.sleep(0.05)
