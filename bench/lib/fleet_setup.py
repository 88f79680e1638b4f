"""Setting up bench/fleet.py: the sandbox with N generated mailboxes, our app served over HTTP
(Graph's notifications reach it), and N signed-in users in the database.

Each fleet user's MSAL token cache is the demo admin's cache after a real sign-in, with the
account's object id swapped and the access token replaced by one the sandbox issued for
that mailbox (valid for the whole run): 10,000 browser sign-ins would take longer than the
benchmark, and this keeps the session's real token path (decrypt, MSAL silent, cache hit).
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import threading
from pathlib import Path

from sqlalchemy import insert, select
from werkzeug.serving import make_server

from server.auth.crypto import decrypt_text, encrypt_text
from server.db import utcnow
from server.models.connections import MicrosoftConnection
from server.models.schedule import SyncSchedule
from server.models.tenancy import User
from server.sandbox.directory import DEMO_USERS
from server.sandbox.fleet import fleet_user

ROOT = Path(__file__).resolve().parent.parent.parent
ALEX = DEMO_USERS[0]
TOKEN_CHUNK = 1000


def serve(app, port: int):
    """Our app over real HTTP on `port` (Graph's notifications and validations reach it)."""
    server = make_server("127.0.0.1", port, app, threaded=True)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    return server


def add_fleet_users(db, sandbox, count: int) -> list[int]:
    """`count` users of the demo organisation, each with a Microsoft connection (a cloned
    cache holding its own access token) and a schedule row; returns their ids."""
    alex = db.scalar(select(User).where(User.object_id == ALEX.object_id))
    template = db.scalar(select(MicrosoftConnection).where(MicrosoftConnection.user_id == alex.id))
    cache_text = decrypt_text(template.token_cache_encrypted)
    now = utcnow()
    ids: list[int] = []
    for start in range(0, count, TOKEN_CHUNK):
        stop = min(count, start + TOKEN_CHUNK)
        tokens = sandbox.control("/_sandbox/graph/fleet/tokens", {"from": start, "to": stop})
        people = [fleet_user(n) for n in range(start, stop)]
        rows = db.execute(
            insert(User).returning(User.id),
            [
                {
                    "org_id": alex.org_id,
                    "tenant_id": p.tenant_id,
                    "object_id": p.object_id,
                    "email": p.email,
                    "display_name": p.display_name,
                    "aliases": [],
                    "role": "user",
                    "sync_enabled": True,
                    "created_at": now,
                }
                for p in people
            ],
        ).scalars()
        chunk_ids = list(rows)
        db.execute(
            insert(MicrosoftConnection),
            [
                {
                    "org_id": alex.org_id,
                    "user_id": uid,
                    "token_cache_encrypted": encrypt_text(
                        _cloned_cache(cache_text, p.object_id, tokens["tokens"][p.object_id])
                    ),
                    "home_account_id": template.home_account_id.replace(
                        ALEX.object_id, p.object_id
                    ),
                    "scopes": template.scopes,
                    "connected_at": now,
                    "updated_at": now,
                    "needs_reauth": False,
                    "last_error": "",
                }
                for uid, p in zip(chunk_ids, people, strict=True)
            ],
        )
        db.execute(
            insert(SyncSchedule),
            [{"user_id": uid, "org_id": alex.org_id, "due_at": now} for uid in chunk_ids],
        )
        db.commit()
        ids += chunk_ids
    return ids


def _cloned_cache(cache_text: str, object_id: str, access_token: str) -> str:
    cache = json.loads(cache_text.replace(ALEX.object_id, object_id))
    for entry in cache.get("AccessToken", {}).values():
        entry["secret"] = access_token
    return json.dumps(cache)


def start_workers(count: int, settings: dict, fork: bool) -> list[subprocess.Popen]:
    """`count` production workers (`flask worker`, forking or --no-fork), no scheduler."""
    env = {**os.environ, "PYTHONPATH": str(ROOT), **{k: str(v) for k, v in settings.items()}}
    return [
        subprocess.Popen(
            [
                sys.executable,
                *("-m", "flask", "--app", "server", "worker", "--no-scheduler"),
                *(() if fork else ("--no-fork",)),
            ],
            cwd=ROOT,
            env=env,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        for _ in range(count)
    ]


class Ticker:
    """The tick in a process of its own (bench/lib/fleet_ticker.py): `tick(at)` runs one and
    returns (wall ms, CPU ms) of that process."""

    def __init__(self, settings: dict) -> None:
        env = {**os.environ, "PYTHONPATH": str(ROOT), **{k: str(v) for k, v in settings.items()}}
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "bench.lib.fleet_ticker"],
            cwd=ROOT,
            env=env,
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=subprocess.DEVNULL,
            text=True,
        )

    def tick(self, at) -> tuple[float, float]:
        self.proc.stdin.write(at.isoformat() + "\n")
        self.proc.stdin.flush()
        wall, cpu = self.proc.stdout.readline().split()
        return float(wall), float(cpu)

    def close(self) -> None:
        self.proc.stdin.close()
        self.proc.wait(timeout=60)


def nothing() -> None:
    """A job that does nothing (fleet.py's baseline: what RQ itself costs per job)."""


def cpu_seconds(pid: int) -> float:
    """CPU of a process and of its waited-for children (RQ forks one per job)."""
    with open(f"/proc/{pid}/stat") as stat:
        fields = stat.read().rsplit(")", 1)[1].split()
    ticks = sum(int(v) for v in fields[11:15])  # utime, stime, cutime, cstime
    return ticks / os.sysconf("SC_CLK_TCK")
