"""Keeps each user's sync summary (models/sync_summary) current.

Called by the code that records sessions — a session's start (sync/session.run_session) and
its end (sync/liveness.finish and .abandon), inside the transaction that records it — and
nowhere else. The facts are derived from
the same recent sessions, by the same functions, as the pane's health (sync/health), so the
admin's SQL state (sync/health_sql) and health_for agree.
"""

from __future__ import annotations

from datetime import datetime
from functools import cache

from sqlalchemy import select
from sqlalchemy.dialects import postgresql, sqlite

from ..db import get_session, utcnow
from ..models.sync import SyncSession
from ..models.sync_summary import UserSyncSummary
from ..models.tenancy import User
from .health_data import (
    FAILED_STATUSES,
    consecutive_failures,
    older_successes,
    recent_sessions,
    recent_success_at,
)


def _facts(rows: list[SyncSession], older: SyncSession | None) -> dict:
    success = next((s for s in rows if s.status == "succeeded"), older)
    failed = next((s for s in rows if s.status in FAILED_STATUSES), None)
    done = next((s for s in rows if s.status != "running"), None)
    return {
        "last_session_id": rows[0].id if rows else None,
        # sync.health_app.app_state: the newest finished session was refused by the tenant.
        "last_refused": done is not None and done.status == "refused",
        "failures": consecutive_failures(rows),
        "recent_success_at": recent_success_at(rows),
        "last_success_at": success.finished_at if success is not None else None,
        "last_error": (failed.error if failed else "")[:500],
    }


def refresh_summaries(
    user_ids: list[int], now: datetime | None = None, orgs: dict[int, int] | None = None
) -> None:
    """Recompute the summaries of these users in the caller's transaction (a fixed number
    of queries); the caller commits. `orgs` (user id -> organisation id) when the caller
    knows them: one query fewer."""
    user_ids = sorted(set(user_ids))
    if not user_ids:
        return
    db = get_session()
    now = now or utcnow()
    sessions = recent_sessions(user_ids, now, facts_only=True)
    older = older_successes(
        [uid for uid, rows in sessions.items() if not any(s.status == "succeeded" for s in rows)],
        facts_only=True,
    )
    if orgs is None or not set(user_ids) <= set(orgs):
        orgs = dict(db.execute(select(User.id, User.org_id).where(User.id.in_(user_ids))).all())
    values = [
        {"user_id": uid, "org_id": orgs[uid], "updated_at": now, **_facts(rows, older.get(uid))}
        for uid, rows in sessions.items()
        if uid in orgs
    ]
    if not values:
        return
    db.connection().execute(_upsert_statement(db.get_bind().dialect.name), values)


# The facts written by the upsert (user_id and org_id identify the row).
_COLUMNS = (
    "last_session_id",
    "failures",
    "recent_success_at",
    "last_success_at",
    "last_refused",
    "last_error",
    "updated_at",
)


@cache
def _upsert_statement(dialect_name: str):
    """Built once per dialect, the rows bound at execution (on every session's start and end,
    building it cost more CPU than running it)."""
    dialect = postgresql if dialect_name == "postgresql" else sqlite
    statement = dialect.insert(UserSyncSummary)
    return statement.on_conflict_do_update(
        index_elements=["user_id"], set_={c: statement.excluded[c] for c in _COLUMNS}
    )


def record_session_change(user_id: int, org_id: int | None = None) -> None:
    """After a session of this user was created or changed status: refresh and commit."""
    refresh_summaries([user_id], orgs=None if org_id is None else {user_id: org_id})
    get_session().commit()
