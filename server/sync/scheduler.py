"""Which sessions are due, from the database alone (so a flushed Redis loses nothing): the
minute tick enqueues them; "sync now"; sessions whose worker died are closed and re-run.

A tick costs what is due, not what exists: the `sync_schedules` row of each mailbox says when
to look at it next, and a tick reads only rows whose time has come."""

from __future__ import annotations

import logging
import os
import socket
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from functools import cache

from flask import Flask, current_app
from sqlalchemy import Row, bindparam, func, select, update
from sqlalchemy.orm import aliased

from ..auth.identity import allowed_condition
from ..db import get_session, utcnow
from ..models.connections import MicrosoftConnection
from ..models.crm_connections import SalesforceConnection
from ..models.schedule import SyncSchedule
from ..models.sync import SyncSession
from ..models.tenancy import Organisation, User
from ..periodic import register_tick_hook
from .app_grant_recheck import recheck_app_grants
from .app_scheduling import app_grant_renewals, may_sync, refused
from .due import MAX_BACKOFF, due_at, on_phase, phase_of
from .health import failed_grant
from .jobs import enqueue_session, enqueue_sessions, release_dead_job
from .liveness import abandon
from .quiet_poll import enqueue_quiet_polls
from .webhooks import subscription_watch

log = logging.getLogger(__name__)
# Sessions older than this do not change when the next one is due (the back-off's cap).
HISTORY = 3 * MAX_BACKOFF
# At most this many mailboxes are decided per tick; the rest stay due for the next one.
MAX_PER_TICK = 5000
# The sessions per mailbox its next moment depends on (the back-off counts up to five failures).
RECENT = 6


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


# What the decision reads of a session: the back-off (due.py), re-auth and scope (health).
_DECIDING = (
    SyncSession.user_id,
    SyncSession.status,
    SyncSession.started_at,
    SyncSession.finished_at,
    SyncSession.error,
)


def _latest_sessions(db, user_ids: list[int], now: datetime) -> dict[int, list[Row]]:
    """The last RECENT sessions per user (newest first), for due-ness and back-off. Only the
    recent ones: a chain of failures older than HISTORY has reached the back-off's cap. The
    database ranks them, so a tick loads RECENT rows per mailbox however many sessions its
    notifications started within HISTORY (a busy mailbox: dozens). Plain rows of the columns
    the decision reads, not ORM objects: a tick reads hundreds of them."""
    out: dict[int, list[Row]] = {uid: [] for uid in user_ids}
    if not user_ids:
        return out
    newest_first = (SyncSession.started_at.desc(), SyncSession.id.desc())
    ranked = (
        select(
            *_DECIDING,
            func.row_number()
            .over(partition_by=SyncSession.user_id, order_by=newest_first)
            .label("rank"),
        )
        .where(SyncSession.user_id.in_(user_ids), SyncSession.started_at >= now - HISTORY)
        .subquery()
    )
    recent = select(*(ranked.c[column.key] for column in _DECIDING)).where(ranked.c.rank <= RECENT)
    for row in db.execute(recent.order_by(ranked.c.user_id, ranked.c.rank)):
        out[row.user_id].append(row)
    missing = [uid for uid, rows in out.items() if not rows]
    if missing:  # older history: only the very last session matters
        newest = (
            select(SyncSession.user_id, func.max(SyncSession.id).label("id"))
            .where(SyncSession.user_id.in_(missing))
            .group_by(SyncSession.user_id)
            .subquery()
        )
        for row in db.execute(select(*_DECIDING).join(newest, SyncSession.id == newest.c.id)):
            out[row.user_id].append(row)
    return out


def is_due(sessions: list[SyncSession], now: datetime, interval: timedelta) -> bool:
    """Whether a session is due now: one wait (the interval, or its back-off) after the
    last one ended; never while one runs or needs the user to sign in again."""
    when = due_at(sessions, interval)
    return when is not None and when <= now


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


@dataclass(frozen=True)
class TickPlan:
    """A tick's due mailboxes: those a session must read, and those a quiet poll may look at
    first (sync/quiet_poll.py: notifications are live and the last session went well)."""

    sessions: list[int] = field(default_factory=list)
    quiet: list[int] = field(default_factory=list)


def due_user_ids(now: datetime | None = None) -> list[int]:
    """Every mailbox due now, whether a session or a quiet poll will look at it."""
    plan = plan_tick(now)
    return [*plan.sessions, *plan.quiet]


def plan_tick(now: datetime | None = None) -> TickPlan:
    """The mailboxes to look at now. Reads only the schedule rows that are due (an index on
    due_at), decides each from its recent sessions, and moves every row it read to the
    next moment worth looking again, so the next tick does not read it."""
    now = now or utcnow()
    db = get_session()
    cfg = current_app.config
    base = timedelta(minutes=cfg["SYNC_INTERVAL_MINUTES"])
    # An alias: allowed_condition() correlates its own subquery on Organisation.
    org = aliased(Organisation)
    candidates = db.execute(
        select(
            SyncSchedule.user_id,
            User.sync_enabled,
            MicrosoftConnection.needs_reauth,
            allowed_condition().label("allowed"),  # "only allowed users": the others stop
            org.sync_mode,
            User.app_scope,
        )
        .join(User, User.id == SyncSchedule.user_id)
        .join(org, org.id == User.org_id)
        .outerjoin(MicrosoftConnection, MicrosoftConnection.user_id == SyncSchedule.user_id)
        .where(SyncSchedule.due_at <= now)
        .order_by(SyncSchedule.due_at)
        .limit(MAX_PER_TICK)
    ).all()
    if not candidates:
        return TickPlan()
    active = [
        uid
        for uid, enabled, reauth, allowed, mode, scope in candidates
        if enabled and allowed and may_sync(mode, scope, reauth)
    ]
    latest = _latest_sessions(db, active, now)
    # A re-authorised user's last "needs_reauth" session must not block them forever.
    reconnected = _reconnected_since(db, latest)
    watched, renewing = (
        subscription_watch(active, now) if cfg["SYNC_WEBHOOKS_ENABLED"] else (set(), set())
    )
    safety = max(base, timedelta(minutes=cfg["SYNC_SAFETY_POLL_MINUTES"]))
    plan, next_look = TickPlan(), {}
    for uid, *_ in candidates:
        # A mailbox the tenant refused (application scope) is tried again at the safety poll.
        interval = safety if uid in watched or refused(latest.get(uid)) else base
        when = due_at(latest[uid], interval, phase_of(uid)) if uid in latest else None
        if uid in reconnected or (when is not None and (when <= now or uid in renewing)):
            (plan.quiet if _quiet(uid, watched, renewing, latest) else plan.sessions).append(uid)
            when = on_phase(now + interval / 2, interval, phase_of(uid))
        # Disabled, waiting for a sign-in, or running: looked at again after an interval
        # (a sign-in or a renewed CRM grant marks the mailbox due at once; see mark_due).
        next_look[uid] = when if when is not None else now + base
    db.execute(  # one executemany
        _move_statement(), [{"uid": uid, "when": when} for uid, when in next_look.items()]
    )
    db.commit()
    return plan


def _quiet(uid: int, watched: set[int], renewing: set[int], latest: dict[int, list[Row]]) -> bool:
    """A quiet poll may look first: notifications are live and need no renewal, and the last
    session went well (a failure's back-off and a re-authorisation are a session's)."""
    last = latest.get(uid)
    return uid in watched and uid not in renewing and bool(last) and last[0].status == "succeeded"


@cache
def _move_statement():
    """Built once: a plain executemany by key, not the ORM's bulk update (which inspects
    every parameter set), on the tick's hundred rows a minute."""
    table = SyncSchedule.__table__
    return update(table).where(table.c.user_id == bindparam("uid")).values(due_at=bindparam("when"))


def _reconnected_since(db, latest: dict[int, list[Row]]) -> set[int]:
    """Users whose last session needed re-auth and who renewed that grant (Microsoft's, or
    the CRM's when it was the CRM that refused) after it finished."""
    flagged = {
        uid: rows[0] for uid, rows in latest.items() if rows and rows[0].status == "needs_reauth"
    }
    if not flagged:
        return set()
    by_grant: dict[str, list[int]] = {"microsoft": [], "crm": [], "application": []}
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
    renewals += app_grant_renewals(db, by_grant["application"])
    for user_id, renewed_at in renewals:
        session = flagged[user_id]
        if renewed_at and renewed_at > (session.finished_at or session.started_at):
            out.add(user_id)
    return out


def schedule_tick() -> list[int]:
    """The tick hook: close dead sessions, then enqueue every due session (unique per user)
    and quiet poll. Returns the mailboxes queued."""
    reaped = reap_dead_sessions()
    _recheck_app_grants()
    return enqueue_due(utcnow(), reaped)


def enqueue_due(now: datetime, reaped: Sequence[int] = ()) -> list[int]:
    """Queue what is due at `now`: sessions in one batch (a session whose worker died is
    re-run at once, by a session), quiet polls in groups."""
    plan = plan_tick(now)
    user_ids = list(dict.fromkeys([*reaped, *plan.sessions]))
    jobs = enqueue_sessions(user_ids, "schedule")
    quiet = [uid for uid in plan.quiet if uid not in reaped]
    enqueue_quiet_polls(quiet)
    return [uid for uid, job in zip(user_ids, jobs, strict=True) if job is not None] + quiet


def _recheck_app_grants() -> None:
    """Refused application grants asked again (app_grant_recheck), before deciding who is
    due, so a restored grant's mailboxes run in this tick. Its failure must not stop the
    tick's sessions for every other organisation: logged, and tried at the next tick."""
    every = timedelta(minutes=current_app.config["APP_GRANT_RECHECK_MINUTES"])
    try:
        recheck_app_grants(get_session(), utcnow(), every)
    except Exception:
        log.exception("application grant re-check failed")
        get_session().rollback()


def sync_now(user: User) -> bool:
    """'Sync now': enqueue the user's session at once (False when one is already queued)."""
    return enqueue_session(user.id, "now") is not None


def init_app(app: Flask) -> None:
    register_tick_hook(app, schedule_tick)
