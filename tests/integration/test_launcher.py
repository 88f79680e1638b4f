"""`make run` end to end: everything starts on embedded defaults, /readyz turns 200, Ctrl-C
leaves no process behind, and a second start does not reseed."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time

import psutil
import pytest
import requests

from server.redis_server import free_port

pytestmark = pytest.mark.slow


def _start(instance, port, sandbox_port):
    env = {
        k: v for k, v in os.environ.items() if k not in {"REDIS_URL", "DATABASE_URL", "CA_BUNDLE"}
    }
    env.update(
        INSTANCE_PATH=str(instance),
        PORT=str(port),
        SANDBOX_PORT=str(sandbox_port),
        MS_AUTHORITY_HOST=f"https://127.0.0.1:{sandbox_port}",
        GRAPH_BASE_URL=f"https://127.0.0.1:{sandbox_port}/graph/v1.0",
        SALESFORCE_LOGIN_URL=f"https://127.0.0.1:{sandbox_port}/salesforce",
    )
    return subprocess.Popen(
        [sys.executable, "-m", "server.launcher"],
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )


def _wait_ready(port, proc, timeout=120.0):
    deadline = time.time() + timeout
    last = None
    while time.time() < deadline:
        if proc.poll() is not None:
            pytest.fail(f"launcher exited early:\n{proc.stdout.read()}")
        try:
            last = requests.get(f"http://127.0.0.1:{port}/readyz", timeout=10)
            if last.status_code == 200:
                return last.json()
        except requests.RequestException:
            pass
        time.sleep(0.5)
    pytest.fail(f"/readyz never answered 200: {last.json() if last is not None else 'no answer'}")


def _stop(proc):
    descendants = psutil.Process(proc.pid).children(recursive=True)
    proc.send_signal(signal.SIGINT)
    output, _ = proc.communicate(timeout=60)
    time.sleep(0.5)
    return output, [p for p in descendants if _alive(p)]


def _alive(process: psutil.Process) -> bool:
    try:
        return process.is_running() and process.status() != psutil.STATUS_ZOMBIE
    except psutil.NoSuchProcess:  # it exited between the two questions
        return False


def test_make_run_starts_everything_and_ctrl_c_stops_it(tmp_path):
    instance = tmp_path / "instance"
    port, sandbox_port = free_port(), free_port()
    proc = _start(instance, port, sandbox_port)
    try:
        ready = _wait_ready(port, proc)
        assert ready["checks"]["worker"]["ok"] and ready["checks"]["scheduler"]["ok"]
        home = requests.get(f"http://127.0.0.1:{port}/", timeout=5)
        assert home.status_code == 200 and "Courier is running" in home.text
    finally:
        output, alive = _stop(proc)
    assert "seeding the demo" in output
    assert not alive, f"processes left behind: {alive}"

    started = time.time()
    proc = _start(instance, port, sandbox_port)
    try:
        _wait_ready(port, proc)
    finally:
        output, alive = _stop(proc)
    assert "demo data already present" in output
    assert time.time() - started < 60
    assert not alive
