"""Sync health per user (PRODUCT §3), computed from the session records; the admin's JSON."""

from __future__ import annotations

from datetime import datetime, timedelta

from flask import Blueprint, current_app, g, jsonify, request
from sqlalchemy import select

from ..auth.decorators import admin_required, api_login_required
from ..db import get_session, utcnow
from ..errors import ApiError
from ..models.connections import MicrosoftConnection
from ..models.sync import SyncSession, SyncState
from ..models.tenancy import User
from .health_app import APP_STATES, app_error, app_mode_user, app_state
from .health_data import (
    FAILED_STATUSES,
    consecutive_failures,
    crm_statuses,
    older_successes,
    recent_sessions,
    recent_success_at,
    watched_user_ids,
)

DELAYED_AFTER = timedelta(minutes=30)
STALLED_AFTER = timedelta(hours=2)
STALLED_FAILURES = 3
PAGE_SIZE = 200
MAX_PAGE_SIZE = 500

bp = Blueprint("sync_health", __name__)


def session_summary(session: SyncSession | None) -> dict | None:
    if session is None:
        return None
    return {
        "id": session.id,
        "status": session.status,
        "trigger": session.trigger,
        "started_at": _iso(session.started_at),
        "finished_at": _iso(session.finished_at),
        "duration_ms": session.duration_ms,
        "items_read": session.items_read,
        "estimate": session.estimate,
        "saved": session.saved,
        "created": session.created,
        "skipped": session.skipped,
        "errors": session.errors,
        "by_reason": session.counts,
        "error": session.error,
    }


def _iso(value: datetime | None) -> str | None:
    return value.isoformat() if value else None


def failed_grant(session: SyncSession) -> str:
    """Whose grant a needs_reauth session ran into: "crm", "application" (the organisation's
    app-only grant) or "microsoft" (the user's own)."""
    error = session.error or ""
    if error.startswith("AppGrantMissing"):
        return "application"
    return "crm" if error.startswith("CRMAuthError") else "microsoft"


def reauth_needed(
    connection: MicrosoftConnection | None, sessions: list[SyncSession], crm: dict | None
) -> str:
    """Which grant the user must renew ("microsoft", the CRM's name, or "")."""
    if connection is not None and connection.needs_reauth:
        return "microsoft"
    if crm is not None and crm["connected"] and crm["needs_reauth"]:
        return crm["name"]
    last = sessions[0] if sessions else None
    if last is None or last.status != "needs_reauth":
        return ""
    if failed_grant(last) == "crm":
        # The CRM's own connection is the truth (checked above); a builtin CRM never asks.
        return ""
    if connection is not None and connection.updated_at <= last.started_at:
        return "microsoft"
    return ""


def classify(
    user: User,
    connection: MicrosoftConnection | None,
    sessions: list[SyncSession],
    initial_pending: bool,
    now: datetime,
    crm: dict | None = None,
    quiet: timedelta = timedelta(0),
) -> str:
    """The health state, from the newest session first. `crm` is the external CRM's
    connection status (None for the built-in CRM). `quiet` is how long a mailbox watched by
    live change notifications may go without a session (its safety poll): added to the
    delayed and stalled thresholds, since no session there means no change."""
    if not user.sync_enabled:
        return "disabled"
    if app_mode_user(user):
        # Application mode: the user's own connection plays no part in the sync.
        special = app_state(user, sessions)
        if special:
            return special
        if reauth_needed(None, sessions, crm):  # only the CRM's grant can ask for it here
            return "needs_reauth"
    elif connection is None:
        return "not_started"
    elif reauth_needed(connection, sessions, crm):
        return "needs_reauth"
    if crm is not None and not crm["connected"]:
        return "not_started"  # the CRM is not connected yet: nothing can be saved
    if not sessions:
        return "not_started"
    last = sessions[0]
    if last.status == "running" and (initial_pending or last.initial):
        return "initializing"
    # The admin's users table computes the same from user_sync_summaries (sync/health_sql):
    # these two facts are what sync/summary stores, by these same functions.
    failures = consecutive_failures(sessions)
    if failures >= STALLED_FAILURES or now - last.started_at > STALLED_AFTER + quiet:
        return "stalled"
    finished = recent_success_at(sessions)
    if finished is not None and now - finished <= DELAYED_AFTER + quiet:
        return "up_to_date"
    if finished is None and initial_pending:
        return "initializing"
    return "delayed"


def health_for(user: User, now: datetime | None = None) -> dict:
    """What the pane's suggestions and the admin table show about a user's sync."""
    return health_for_users([user], now)[user.id]


def health_for_users(users: list[User], now: datetime | None = None) -> dict[int, dict]:
    """Health of a page of users in a fixed number of queries, however many users."""
    now = now or utcnow()
    if not users:
        return {}
    ids = [u.id for u in users]
    db = get_session()
    connections = {
        c.user_id: c
        for c in db.scalars(select(MicrosoftConnection).where(MicrosoftConnection.user_id.in_(ids)))
    }
    sessions = recent_sessions(ids, now)
    last_success = older_successes(
        [uid for uid, rows in sessions.items() if not any(s.status == "succeeded" for s in rows)]
    )
    states: dict[int, list[SyncState]] = {uid: [] for uid in ids}
    for state in db.scalars(select(SyncState).where(SyncState.user_id.in_(ids))):
        states[state.user_id].append(state)
    crm = crm_statuses(users)
    watched = watched_user_ids(ids, now)
    safety = timedelta(minutes=current_app.config["SYNC_SAFETY_POLL_MINUTES"]) * 1.5
    return {
        u.id: _health(
            u,
            connections.get(u.id),
            sessions[u.id],
            last_success.get(u.id),
            states[u.id],
            crm.get(u.id),
            now,
            safety if u.id in watched else timedelta(0),
        )
        for u in users
    }


def _health(
    user: User,
    connection: MicrosoftConnection | None,
    sessions: list[SyncSession],
    older_success: SyncSession | None,
    states: list[SyncState],
    crm: dict | None,
    now: datetime,
    quiet: timedelta,
) -> dict:
    initial_pending = not states or any(not s.initial_done for s in states)
    state = classify(user, connection, sessions, initial_pending, now, crm, quiet)
    last = sessions[0] if sessions else None
    success = next((s for s in sessions if s.status == "succeeded"), older_success)
    failed = next((s for s in sessions if s.status in FAILED_STATUSES), None)
    out = {
        "state": state,
        "last_session": session_summary(last),
        "last_success_at": _iso(success.finished_at) if success else None,
        "last_error": (failed.error if failed else "")
        if state in ("stalled", "delayed", "needs_reauth")
        else "",
    }
    if state == "needs_reauth":
        out["reauth"] = reauth_needed(connection, sessions, crm)
    if state in APP_STATES:
        out["last_error"] = app_error(user, state, sessions)
    if crm is not None:
        out["crm"] = crm
        if crm.get("paused"):
            out["paused"] = {
                "crm": crm["name"],
                "until": crm["paused_until"],
                "reason": crm["pause_reason"],
            }
            # Flat too: the pane's status line keeps only plain values.
            out["paused_until"] = crm["paused_until"]
    if state == "initializing" and last is not None:
        out["progress"] = {"read": last.items_read, "estimate": max(last.estimate, last.items_read)}
    return out


def crm_status(user: User) -> dict | None:
    """One user's external CRM status (None for the built-in CRM)."""
    return crm_statuses([user]).get(user.id)


@bp.get("/admin/api/sync/health")
@admin_required
def admin_sync_health():
    db = get_session()
    page, size = _page_args()
    users = list(
        db.scalars(
            select(User)
            .where(User.org_id == g.user.org_id)
            .order_by(User.id)
            .offset((page - 1) * size)
            .limit(size + 1)
        )
    )
    more, users = len(users) > size, users[:size]
    health = health_for_users(users)
    return jsonify(
        {
            "users": [
                {"id": u.id, "email": u.email, "display_name": u.display_name, **health[u.id]}
                for u in users
            ],
            "page": page,
            "next_page": page + 1 if more else None,
        }
    )


def _page_args() -> tuple[int, int]:
    """?page= (from 1) and ?per_page= (1-500, default 200); bad values are a 400."""
    try:
        page = int(request.args.get("page", "1"))
        size = int(request.args.get("per_page", str(PAGE_SIZE)))
    except ValueError:
        raise ApiError(400, "bad_page", "page and per_page must be whole numbers") from None
    if page < 1 or not 1 <= size <= MAX_PAGE_SIZE:
        raise ApiError(400, "bad_page", f"page must be at least 1 and per_page 1-{MAX_PAGE_SIZE}")
    return page, size


@bp.get("/api/sync/health")
@api_login_required
def my_sync_health():
    return jsonify(health_for(g.user))


@bp.post("/api/sync/now")
@api_login_required
def sync_now_endpoint():
    """'Sync now' from the pane: the user's session is enqueued unless one is waiting."""
    from .scheduler import sync_now

    return jsonify({"enqueued": sync_now(g.user), **health_for(g.user)}), 202
