"""Which sessions are due, from the database alone (so a flushed Redis loses nothing): the
minute tick enqueues them; "sync now"; sessions whose worker died are closed and re-run."""

from __future__ import annotations

import logging
import os
import socket
from datetime import datetime, timedelta

from flask import Flask, current_app
from sqlalchemy import func, select

from ..db import get_session, utcnow
from ..models.connections import MicrosoftConnection
from ..models.crm_connections import SalesforceConnection
from ..models.sync import SyncSession
from ..models.tenancy import User
from ..periodic import register_tick_hook
from .health import failed_grant
from .jobs import enqueue_session, release_dead_job
from .liveness import abandon

log = logging.getLogger(__name__)
MAX_BACKOFF = timedelta(hours=2)


def _pid_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def worker_gone(session: SyncSession) -> bool:
    """The session's worker process ran on this host and no longer exists."""
    host, _, pid = (session.worker or "").rpartition(":")
    return host == socket.gethostname() and pid.isdigit() and not _pid_alive(int(pid))


def worker_is_dead(session: SyncSession, now: datetime, stale_seconds: int) -> bool:
    """Stale heartbeat (the session's heartbeat thread beats while its worker lives, however
    long a page takes), or a worker process on this host that no longer exists."""
    if now - session.heartbeat_at > timedelta(seconds=stale_seconds):
        return True
    return worker_gone(session)


def _latest_sessions(db, user_ids: list[int]) -> dict[int, list[SyncSession]]:
    """The last few sessions per user (newest first), for due-ness and back-off."""
    out: dict[int, list[SyncSession]] = {uid: [] for uid in user_ids}
    if not user_ids:
        return out
    since = utcnow() - timedelta(days=2)
    rows = db.scalars(
        select(SyncSession)
        .where(SyncSession.user_id.in_(user_ids), SyncSession.started_at >= since)
        .order_by(SyncSession.user_id, SyncSession.started_at.desc(), SyncSession.id.desc())
    )
    for row in rows:
        if len(out[row.user_id]) < 6:
            out[row.user_id].append(row)
    missing = [uid for uid, rows in out.items() if not rows]
    if missing:  # older history: only the very last session matters
        newest = (
            select(SyncSession.user_id, func.max(SyncSession.id).label("id"))
            .where(SyncSession.user_id.in_(missing))
            .group_by(SyncSession.user_id)
            .subquery()
        )
        for row in db.scalars(select(SyncSession).join(newest, SyncSession.id == newest.c.id)):
            out[row.user_id].append(row)
    return out


def is_due(sessions: list[SyncSession], now: datetime, interval: timedelta) -> bool:
    if not sessions:
        return True
    last = sessions[0]
    if last.status == "running":
        return False
    if last.status == "needs_reauth":
        return False
    finished = last.finished_at or last.started_at
    failures = 0
    for session in sessions:
        if session.status not in ("failed", "abandoned"):
            break
        failures += 1
    wait = interval if failures == 0 else min(interval * (2 ** (failures - 1)), MAX_BACKOFF)
    return now - finished >= wait


def reap_dead_sessions(now: datetime | None = None) -> list[int]:
    """Close sessions whose worker died (status abandoned) and free their jobs. Each close is
    a compare-and-set: a session that beat (or finished) since we read it is left alone."""
    now = now or utcnow()
    db = get_session()
    stale = current_app.config["SYNC_STALE_SECONDS"]
    running = db.execute(
        select(
            SyncSession.id, SyncSession.user_id, SyncSession.heartbeat_at, SyncSession.worker
        ).where(SyncSession.status == "running")
    ).all()
    db.commit()
    reaped = []
    for row in running:
        if worker_gone(row):
            closed = abandon(db, row.id, stale_before=None)
        elif now - row.heartbeat_at > timedelta(seconds=stale):
            closed = abandon(db, row.id, stale_before=now - timedelta(seconds=stale))
        else:
            continue
        if closed:
            reaped.append(row.user_id)
    for user_id in reaped:
        release_dead_job(user_id)
    return reaped


def due_user_ids(now: datetime | None = None) -> list[int]:
    now = now or utcnow()
    db = get_session()
    interval = timedelta(minutes=current_app.config["SYNC_INTERVAL_MINUTES"])
    user_ids = list(
        db.scalars(
            select(User.id)
            .join(MicrosoftConnection, MicrosoftConnection.user_id == User.id)
            .where(User.sync_enabled.is_(True), MicrosoftConnection.needs_reauth.is_(False))
            .order_by(User.id)
        )
    )
    latest = _latest_sessions(db, user_ids)
    # A re-authorised user's last "needs_reauth" session must not block them forever.
    reconnected = _reconnected_since(db, latest)
    return [uid for uid in user_ids if is_due(latest[uid], now, interval) or uid in reconnected]


def _reconnected_since(db, latest: dict[int, list[SyncSession]]) -> set[int]:
    """Users whose last session needed re-auth and who renewed that grant (Microsoft's, or
    the CRM's when it was the CRM that refused) after it finished."""
    flagged = {
        uid: rows[0] for uid, rows in latest.items() if rows and rows[0].status == "needs_reauth"
    }
    if not flagged:
        return set()
    by_grant: dict[str, list[int]] = {"microsoft": [], "crm": []}
    for uid, session in flagged.items():
        by_grant[failed_grant(session)].append(uid)
    out = set()
    renewals = []
    if by_grant["microsoft"]:
        renewals += db.execute(
            select(MicrosoftConnection.user_id, MicrosoftConnection.updated_at).where(
                MicrosoftConnection.user_id.in_(by_grant["microsoft"])
            )
        ).all()
    if by_grant["crm"]:
        renewals += db.execute(
            select(SalesforceConnection.user_id, SalesforceConnection.connected_at).where(
                SalesforceConnection.user_id.in_(by_grant["crm"]),
                SalesforceConnection.needs_reauth.is_(False),
            )
        ).all()
    for user_id, renewed_at in renewals:
        session = flagged[user_id]
        if renewed_at and renewed_at > (session.finished_at or session.started_at):
            out.add(user_id)
    return out


def schedule_tick() -> list[int]:
    """The tick hook: close dead sessions, then enqueue every due session (unique per user)."""
    reaped = reap_dead_sessions()
    enqueued = []
    # A session whose worker died is re-run at once; the rest when due.
    for user_id in dict.fromkeys([*reaped, *due_user_ids()]):
        if enqueue_session(user_id, "schedule") is not None:
            enqueued.append(user_id)
    return enqueued


def sync_now(user: User) -> bool:
    """'Sync now': enqueue the user's session at once (False when one is already queued)."""
    return enqueue_session(user.id, "now") is not None


def init_app(app: Flask) -> None:
    register_tick_hook(app, schedule_tick)
