"""gunicorn as configured (server/gunicorn_conf.py) spreads connections over its processes.

Each rep's pane keeps one connection open (keep-alive), so whichever process accepted it serves
all of that rep's requests. With one listening socket shared by the processes the same process
accepted nearly every connection (bench/load.py: 92 % of the requests, one core's worth of GIL,
while the other process idled). Here a real gunicorn with our config and two processes serves a
WSGI app that answers its process id, over many separate connections."""

from __future__ import annotations

import http.client
import os
import subprocess
import sys
import time
from collections import Counter
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import psutil
import pytest

from server.redis_server import free_port

ROOT = Path(__file__).resolve().parents[2]
CONNECTIONS = 120


def _pid_app_source() -> str:
    # A few milliseconds of CPU per request, as a pane request costs.
    return (
        "import os, time\n"
        "def app(environ, start_response):\n"
        "    until = time.process_time() + 0.003\n"
        "    while time.process_time() < until:\n"
        "        pass\n"
        "    start_response('200 OK', [('Content-Type', 'text/plain')])\n"
        "    return [str(os.getpid()).encode()]\n"
    )


def _answering_pid(port: int) -> str | None:
    connection = http.client.HTTPConnection("127.0.0.1", port, timeout=10)
    try:
        connection.request("GET", "/")
        return connection.getresponse().read().decode()
    except OSError:
        return None
    finally:
        connection.close()


def _listening_sockets(gunicorn_pid: int, port: int) -> set[str]:
    """The distinct sockets (by inode) listening on `port` in gunicorn's processes."""
    sockets = set()
    for process in [psutil.Process(gunicorn_pid), *psutil.Process(gunicorn_pid).children()]:
        for conn in process.net_connections("tcp"):
            if conn.status == psutil.CONN_LISTEN and conn.laddr.port == port:
                sockets.add(os.readlink(f"/proc/{process.pid}/fd/{conn.fd}"))
    return sockets


def _rep(port: int, requests: int = 10) -> str | None:
    """The process that served a kept-alive connection's requests (None if several did)."""
    connection = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
    try:
        pids = set()
        for _ in range(requests):
            connection.request("GET", "/")
            pids.add(connection.getresponse().read().decode())
        return pids.pop() if len(pids) == 1 else None
    finally:
        connection.close()


@pytest.fixture
def gunicorn_two_processes(tmp_path):
    (tmp_path / "pid_app.py").write_text(_pid_app_source())
    port = free_port()
    env = {
        **os.environ,
        "PORT": str(port),
        "WEB_CONCURRENCY": "2",
        "PYTHONPATH": f"{tmp_path}{os.pathsep}{ROOT}",
    }
    log = (tmp_path / "gunicorn.log").open("wb")
    # The config's own settings, another app: the balance is the server's, not Courier's.
    proc = subprocess.Popen(
        [sys.executable, "-m", "gunicorn", "-c", "python:server.gunicorn_conf", "pid_app:app"],
        cwd=ROOT,
        env=env,
        stdout=log,
        stderr=subprocess.STDOUT,
    )
    try:
        yield proc, port
    finally:
        proc.terminate()
        proc.wait(timeout=30)
        log.close()


def test_new_connections_are_spread_over_the_web_processes(gunicorn_two_processes, tmp_path):
    proc, port = gunicorn_two_processes
    deadline = time.monotonic() + 60
    seen: set[str] = set()
    # Ready means both processes answer: each opens its own socket once booted.
    while len(seen) < 2:
        assert proc.poll() is None, (tmp_path / "gunicorn.log").read_text()
        assert time.monotonic() < deadline, f"only {seen} answered"
        pid = _answering_pid(port)
        if pid:
            seen.add(pid)
    # Each process listens on a socket of its own (one shared socket would be one inode).
    assert len(_listening_sockets(proc.pid, port)) == 2
    # Reps connect while others are being served, and keep their connections.
    with ThreadPoolExecutor(max_workers=CONNECTIONS) as pool:
        served = Counter(pool.map(lambda _: _rep(port), range(CONNECTIONS)))
    assert None not in served
    assert len(served) == 2, served
    # The kernel hashes each connection to a process: each gets about half, and fewer than a
    # third has a chance of 1 in 4,000 (binomial, 120 draws). With one shared socket the
    # smaller share was 8-30 %.
    assert min(served.values()) >= CONNECTIONS // 3, served
