"""People for the admin console's benchmark and query-count test: Courier users with a
Microsoft connection, sync sessions, sync state and saved items, and directory members who
never signed in — the shapes the users page reads."""

from __future__ import annotations

import uuid
from datetime import timedelta

from sqlalchemy import insert
from sqlalchemy.orm import Session

from server.db import utcnow
from server.models.admin import DirectoryMember
from server.models.connections import MicrosoftConnection
from server.models.ledger import LedgerEntry
from server.models.sync import SyncSession, SyncState
from server.models.tenancy import Organisation, User
from server.sync.summary import refresh_summaries

STATUSES = ("succeeded", "succeeded", "failed", "running", "succeeded")


def _oid(org: Organisation, n: int) -> str:
    return str(uuid.uuid5(uuid.NAMESPACE_URL, f"{org.tenant_id}/{n}"))


def add_people(
    db: Session, org: Organisation, count: int, start: int = 0, sessions_each: int = 3
) -> None:
    """`count` people numbered from `start`: three in four signed in (with sessions), the
    rest only in the directory. Bulk inserts; commits."""
    if count <= 0:
        return
    now = utcnow()
    users, members = [], []
    for n in range(start, start + count):
        row = {
            "org_id": org.id,
            "object_id": _oid(org, n),
            "display_name": f"Person {n:05d}",
            "email": f"person{n:05d}@bench.test",
        }
        members.append({**row, "refreshed_at": now})
        if n % 4 != 3:
            users.append(
                {
                    "org_id": org.id,
                    "tenant_id": org.tenant_id,
                    "object_id": row["object_id"],
                    "email": row["email"],
                    "display_name": row["display_name"],
                    "aliases": [],
                    "role": "user",
                    "sync_enabled": n % 10 != 0,
                    # Half in application mode's scope, for the Scope filter (no effect on
                    # health in delegated mode).
                    "app_scope": "in" if n % 2 == 0 else None,
                    "admin_by_directory": False,
                    "admin_by_grant": False,
                    "created_at": now,
                }
            )
    db.execute(insert(DirectoryMember), members)
    ids = (
        db.execute(insert(User).returning(User.id, sort_by_parameter_order=True), users)
        .scalars()
        .all()
    )
    connections, sessions, states, ledger = [], [], [], []
    for i, user_id in enumerate(ids):
        connections.append(
            {
                "org_id": org.id,
                "user_id": user_id,
                "token_cache_encrypted": "",
                "home_account_id": "",
                "scopes": "",
                "connected_at": now,
                "updated_at": now,
                "needs_reauth": i % 17 == 0,
                "last_error": "",
            }
        )
        states.append(
            {"org_id": org.id, "user_id": user_id, "folder": "inbox", "initial_done": i % 9 != 0}
        )
        for k in range(sessions_each):
            started = now - timedelta(minutes=10 * (k + 1) + i % 50)
            sessions.append(
                {
                    "org_id": org.id,
                    "user_id": user_id,
                    "status": STATUSES[(i + k) % len(STATUSES)],
                    "trigger": "schedule",
                    "initial": False,
                    "started_at": started,
                    "heartbeat_at": started,
                    "finished_at": started + timedelta(seconds=5),
                    "duration_ms": 5000,
                    "worker": "",
                    "items_read": 10,
                    "estimate": 10,
                    "saved": 2,
                    "created": 0,
                    "skipped": 8,
                    "errors": 0,
                    "counts": {},
                    "graph_requests": 1,
                    "crm_calls": 1,
                    "full_reads": 0,
                    "error": "",
                }
            )
        ledger.append(
            {
                "org_id": org.id,
                "item_key": f"<{user_id}@bench.test>",
                "kind": "email",
                "crm_target": "builtin",
                "user_id": user_id,
                "status": "saved",
                "source": "auto",
                "conversation_id": "",
                "subject": "Bench",
                "participants": [],
                "links": [],
                "last_error": "",
                "created_at": now,
                "updated_at": now,
            }
        )
    if ids:
        db.execute(insert(MicrosoftConnection), connections)
        db.execute(insert(SyncState), states)
        db.execute(insert(SyncSession), sessions)
        db.execute(insert(LedgerEntry), ledger)
        # What run_session and liveness.finish keep for each user as sessions come and go.
        for chunk in range(0, len(ids), 1000):
            refresh_summaries(ids[chunk : chunk + 1000])
    db.commit()
