"""Real RQ worker processes for the tests that need them (crash, liveness, races): the app from
settings passed through the environment, run by `tests.integration.sync_worker_process`."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import uuid
from pathlib import Path

import pytest
from redis import Redis
from rq.job import Job
from rq.results import Result

from tests.integration.sync_worker_process import READY_KEY

ROOT = Path(__file__).resolve().parents[2]
PASSED_SETTINGS = (
    "ENV",
    "DATABASE_URL",
    "REDIS_URL",
    "SECRET_KEY",
    "GRAPH_BASE_URL",
    "MS_AUTHORITY_HOST",
    "CA_BUNDLE",
    "SALESFORCE_LOGIN_URL",
    "MS_CLIENT_ID",
    "MS_CLIENT_SECRET",
    "BASE_URL",
    "GRAPH_BACKOFF_BASE_MS",
    "GRAPH_MAX_RETRIES",
    "GRAPH_PAGE_SIZE",
    "SYNC_STALE_SECONDS",
    "SYNC_HEARTBEAT_SECONDS",
    "WRITER_LEASE_SECONDS",
    "HTTP_TIMEOUT_SECONDS",
    "CRM_ADAPTER",
    "SALESFORCE_EMAIL_KEY_FIELD",
    "SALESFORCE_CONTACT_EMAIL_FIELDS",
    "SALESFORCE_ACCOUNT_DOMAIN_FIELDS",
    "SALESFORCE_RETRY_BASE_MS",
)


def worker_env(app, tmp_path) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("GRAPH_", "SYNC_"))}
    for name in PASSED_SETTINGS:
        value = app.config[name]
        env[name] = ",".join(value) if isinstance(value, tuple) else str(value)
    env["INSTANCE_PATH"] = str(tmp_path / "worker-instance")
    env["PYTHONPATH"] = str(ROOT)
    env[READY_KEY] = f"courier:test:workers-ready:{uuid.uuid4().hex}"
    return env


# Every worker process a test starts, so teardown can kill those a failed assertion left
# running: a live worker on the shared test Redis would take later tests' jobs.
_STARTED: list[subprocess.Popen] = []


@pytest.fixture(autouse=True)
def kill_leftover_workers():
    yield
    while _STARTED:
        proc = _STARTED.pop()
        if proc.poll() is None:
            proc.kill()
            proc.wait(timeout=30)


def start_worker(env, burst: bool = False) -> subprocess.Popen:
    args = [sys.executable, "-m", "tests.integration.sync_worker_process"]
    # The worker's log goes to a file: a pipe nobody reads fills up and blocks the worker.
    log = open(Path(env["INSTANCE_PATH"]).parent / "worker.log", "ab")  # noqa: SIM115
    proc = subprocess.Popen(
        args + (["--burst"] if burst else []),
        cwd=ROOT,
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=log,
    )
    log.close()
    _STARTED.append(proc)
    return proc


def worker_log(env) -> str:
    path = Path(env["INSTANCE_PATH"]).parent / "worker.log"
    return path.read_text(errors="replace")[-3000:] if path.exists() else ""


def _blocking_redis(env, timeout: int) -> Redis:
    """A connection whose socket outwaits a blocking read of `timeout` seconds (the app's
    connections give up on a silent socket after a few seconds)."""
    return Redis.from_url(env["REDIS_URL"], socket_timeout=timeout + 10)


def wait_for_workers(env, count: int, timeout: int = 120) -> None:
    """Block until `count` worker processes started with `env` have registered (each says so
    on its ready list); fail with their log after `timeout` seconds."""
    redis = _blocking_redis(env, timeout)
    for _ in range(count):
        if redis.blpop([env[READY_KEY]], timeout=timeout) is None:
            pytest.fail(f"workers did not start; log:\n{worker_log(env)}")


def wait_for_result(job: Job, env, timeout: int = 300) -> Result:
    """Block until `job` has ended (RQ writes its result, success or failure, to the job's
    result stream); fail with the workers' log after `timeout` seconds."""
    result = Job.fetch(job.id, connection=_blocking_redis(env, timeout)).latest_result(timeout)
    if result is None:
        pytest.fail(f"job {job.id} did not end; log:\n{worker_log(env)}")
    return result


def stop_workers(procs: list[subprocess.Popen], timeout: int = 300) -> None:
    """RQ's warm shutdown: each worker ends the job it is running, then exits."""
    for proc in procs:
        proc.send_signal(signal.SIGTERM)
    for proc in procs:
        proc.wait(timeout=timeout)
