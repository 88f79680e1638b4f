"""The Jobs page shows what rq-dashboard shows for our queues: workers with their heartbeat
and current job, waiting and scheduled jobs, failed ones with their error; retry or delete
all failed jobs of a queue (audited)."""

from __future__ import annotations

from datetime import timedelta

import pytest
from rq import Worker
from sqlalchemy import select

from server.db import utcnow
from server.models.admin import AuditEvent
from server.queues import enqueue, get_queue, get_redis
from server.sandbox.directory import DEMO_USERS
from tests.integration.admin_helpers import csrf, web_sign_in


@pytest.fixture
def app_config(sandbox):
    return sandbox.settings()


@pytest.fixture
def admin_client(app, sandbox):
    client = app.test_client()
    assert web_sign_in(client, sandbox, DEMO_USERS[0]).status_code == 302
    return client


def test_workers_scheduled_and_failed_jobs_with_retry_and_delete_all(
    app, admin_client, db, run_jobs
):
    with app.app_context():
        failing = [enqueue("server.sync.session.no_such_function", queue="default") for _ in "ab"]
        run_jobs()  # a real worker, in burst: both fail
        queue = get_queue("default")
        later = queue.enqueue_at(utcnow() + timedelta(hours=1), "server.periodic.tick")
        waiting = enqueue("server.periodic.tick", queue="sync")
        # A worker as RQ registers one (birth and heartbeat in Redis), busy with a job.
        worker = Worker([queue], connection=get_redis(), name="courier-worker-1")
        worker.register_birth()
        worker.set_current_job_id(waiting.id)
        worker.heartbeat()
    try:
        page = admin_client.get("/admin/jobs").get_data(as_text=True)
    finally:
        with app.app_context():
            worker.register_death()
    workers = page.split('id="workers"', 1)[1].split("</table>", 1)[0]
    assert 'data-worker="courier-worker-1"' in workers and waiting.id in workers
    assert utcnow().strftime("%Y-%m-%dT") in workers  # its heartbeat
    scheduled = page.split("Scheduled</caption>", 1)[1].split("</table>", 1)[0]
    assert later.id in scheduled and "server.periodic.tick" in scheduled
    assert waiting.id in page.split('data-queue="sync"', 1)[1].split("</section>", 1)[0]
    for job in failing:
        row = page.split(f'data-job="{job.id}"', 1)[1].split("</tr>", 1)[0]
        assert "no_such_function" in row and "error-text" in row
    form = {"csrf_token": csrf(admin_client), "queue": "default", "action": "retry"}
    assert admin_client.post("/admin/jobs/failed/all", data=form).status_code == 302
    with app.app_context():
        assert {j.id for j in failing} <= set(get_queue("default").job_ids)
    run_jobs()  # they fail again
    delete = {**form, "action": "delete"}
    assert admin_client.post("/admin/jobs/failed/all", data=delete).status_code == 302
    with app.app_context():
        assert get_queue("default").failed_job_registry.count == 0
    events = db.scalars(select(AuditEvent).order_by(AuditEvent.id)).all()
    assert [(e.action, e.after) for e in events] == [
        ("job.retry_all", {"jobs": 2}),
        ("job.delete_all", {"jobs": 2}),
    ]
    bad = {**form, "queue": "nope"}
    answer = admin_client.post("/admin/jobs/failed/all", data=bad)
    assert answer.status_code == 400 and answer.is_json
