"""`make run` end to end: everything starts on embedded defaults, /readyz turns 200, Ctrl-C
leaves no process behind, and a second start does not reseed."""

from __future__ import annotations

import os
import re
import signal
import subprocess
import sys
import threading
import time

import psutil
import pytest
import requests
from redis import Redis
from rq import Worker

from server.redis_server import free_port

pytestmark = pytest.mark.slow

SECRET_CODE = "0.AXoA-launcher-secret-code"


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


class LineWatcher:
    """Reads a process's output on a thread and lets the test wait for a line (no sleeps)."""

    def __init__(self, proc: subprocess.Popen):
        self.lines: list[str] = []
        self._changed = threading.Condition()
        self._thread = threading.Thread(target=self._read, args=(proc.stdout,), daemon=True)
        self._thread.start()

    def _read(self, stream) -> None:
        for line in stream:
            with self._changed:
                self.lines.append(line)
                self._changed.notify_all()
        with self._changed:
            self.lines.append("")  # end of output
            self._changed.notify_all()

    def wait_for(self, pattern: str, start: int = 0, timeout: float = 120.0) -> re.Match:
        regex = re.compile(pattern)
        deadline = time.monotonic() + timeout
        with self._changed:
            while True:
                for line in self.lines[start:]:
                    if match := regex.search(line):
                        return match
                left = deadline - time.monotonic()
                if left <= 0 or (self.lines and self.lines[-1] == ""):
                    pytest.fail(f"no line matching {pattern!r} in:\n{''.join(self.lines)}")
                self._changed.wait(left)

    def text(self) -> str:
        self._thread.join(timeout=30)
        return "".join(self.lines)


def _wait_worker_registered(socket_path, pid: int, timeout: float = 60.0) -> None:
    redis = Redis(unix_socket_path=str(socket_path))
    deadline = time.monotonic() + timeout
    try:
        while time.monotonic() < deadline:
            if any(w.pid == pid for w in Worker.all(connection=redis)):
                return
            time.sleep(0.2)
    finally:
        redis.close()
    pytest.fail(f"worker pid {pid} never registered with RQ")


def test_a_killed_worker_or_web_is_restarted_and_the_rest_keeps_running(tmp_path):
    port, sandbox_port = free_port(), free_port()
    proc = _start(tmp_path / "instance", port, sandbox_port)
    watcher = LineWatcher(proc)
    try:
        worker_pid = int(watcher.wait_for(r"started worker \(pid (\d+)\)")[1])
        sandbox_pid = int(watcher.wait_for(r"started sandbox \(pid (\d+)\)")[1])
        web_pid = int(watcher.wait_for(r"started web \(pid (\d+)\)")[1])
        watcher.wait_for(r"Courier is running")
        mark = len(watcher.lines)

        os.kill(worker_pid, signal.SIGKILL)

        watcher.wait_for(rf"worker \(pid {worker_pid}\) exited with code -9", start=mark)
        new_pid = int(watcher.wait_for(r"started worker \(pid (\d+)\)", start=mark)[1])
        assert new_pid != worker_pid
        # The new process registers as an RQ worker, and the stack is ready again.
        _wait_worker_registered(tmp_path / "instance" / "redis" / "redis.sock", new_pid)
        ready = _wait_ready(port, proc)
        assert ready["checks"]["worker"]["ok"] and ready["checks"]["scheduler"]["ok"]
        # Nothing else was stopped or restarted.
        assert proc.poll() is None
        assert psutil.pid_exists(sandbox_pid) and psutil.pid_exists(web_pid)
        restarted = [x for x in watcher.lines[mark:] if x.startswith("[courier] started ")]
        assert len(restarted) == 1, restarted
        assert requests.get(f"http://127.0.0.1:{port}/healthz", timeout=5).status_code == 200
        # The web server's request lines carry no query string: an OAuth code is not logged.
        callback = f"http://127.0.0.1:{port}/auth/callback?code={SECRET_CODE}&state=x"
        assert requests.get(callback, timeout=5, allow_redirects=False).status_code < 500
        watcher.wait_for(r"GET /auth/callback \d{3}", start=mark)

        # The web server too: killed, restarted, answering again on the same port.
        mark = len(watcher.lines)
        os.kill(web_pid, signal.SIGKILL)
        watcher.wait_for(rf"web \(pid {web_pid}\) exited with code -9", start=mark)
        new_web = int(watcher.wait_for(r"started web \(pid (\d+)\)", start=mark)[1])
        assert new_web != web_pid and proc.poll() is None
        _wait_ready(port, proc)
        assert psutil.pid_exists(sandbox_pid) and psutil.pid_exists(new_pid)
    finally:
        descendants = psutil.Process(proc.pid).children(recursive=True)
        proc.send_signal(signal.SIGINT)
        proc.wait(timeout=60)
    output = watcher.text()
    assert "stopped" in output
    assert SECRET_CODE not in output
    assert not [p for p in descendants if _alive(p)]
