"""Real RQ worker processes for the tests that need them (crash, liveness, races): the app from
settings passed through the environment, run by `tests.integration.sync_worker_process`."""

from __future__ import annotations

import os
import subprocess
import sys
import time
from pathlib import Path

import pytest

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


def wait_until(condition, timeout: float, message) -> None:
    """Poll `condition` until it holds; fail with `message()` (say, the workers' log) after
    `timeout` seconds."""
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            pytest.fail(message())
        time.sleep(0.1)
