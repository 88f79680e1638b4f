"""Session tokens for our API: random, stored only as a SHA-256 hash, expiring, revocable.

Sessions slide: each use moves the expiry to SESSION_IDLE_HOURS from now (at most once per
SESSION_RENEW_MINUTES, so no write per request), never past SESSION_MAX_DAYS after sign-in.

The pane gets one after sign-in (via the one-time code exchange) and sends it as
`Authorization: Bearer <token>`. Browser pages (admin console) keep the same kind of token in
Flask's signed, HttpOnly session cookie.
"""

from __future__ import annotations

import hashlib
import secrets
from datetime import datetime, timedelta

from flask import current_app
from sqlalchemy import bindparam, select, update
from sqlalchemy.orm import joinedload
from sqlalchemy.orm.attributes import set_committed_value

from ..db import get_session, utcnow
from ..models.sessions import ApiSession
from ..models.tenancy import Organisation, User

# A prefix that no JWT can start with, so a bearer token's kind is known without parsing.
TOKEN_PREFIX = "cs_"  # noqa: S105 (a public prefix, not a secret)


def hash_token(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


def is_session_token(token: str) -> bool:
    return token.startswith(TOKEN_PREFIX)


def _limits() -> tuple[timedelta, timedelta, timedelta]:
    cfg = current_app.config
    return (
        timedelta(hours=cfg["SESSION_IDLE_HOURS"]),
        timedelta(days=cfg["SESSION_MAX_DAYS"]),
        timedelta(minutes=cfg["SESSION_RENEW_MINUTES"]),
    )


def slid_expiry(now: datetime, created_at: datetime, idle: timedelta, cap: timedelta) -> datetime:
    """A session used at `now` ends `idle` later, but never more than `cap` after sign-in."""
    return min(now + idle, created_at + cap)


def issue_session(user: User, ttl_hours: int | None = None) -> str:
    """Create a session for `user` and return the token (shown once, never stored)."""
    idle, cap, _ = _limits()
    if ttl_hours is not None:
        idle = timedelta(hours=ttl_hours)
    token = TOKEN_PREFIX + secrets.token_urlsafe(32)
    now = utcnow()
    db = get_session()
    db.add(
        ApiSession(
            token_hash=hash_token(token),
            org_id=user.org_id,
            user_id=user.id,
            created_at=now,
            expires_at=slid_expiry(now, now, idle, cap),
        )
    )
    db.commit()
    return token


def session_expiry(token: str) -> datetime | None:
    row = get_session().scalar(select(ApiSession).where(ApiSession.token_hash == hash_token(token)))
    return row.expires_at if row else None


# Every API request asks this: one query, the session with its user and the user's
# organisation joined (the organisation's domains only loaded by the views that read them).
# Built once: a statement made per call cost more CPU than running it (bench/load.py).
_LIVE_SESSION = (
    select(ApiSession)
    .where(
        ApiSession.token_hash == bindparam("token_hash"),
        ApiSession.revoked_at.is_(None),
        ApiSession.expires_at > bindparam("now"),
    )
    .options(
        joinedload(ApiSession.user, innerjoin=True)
        .joinedload(User.organisation, innerjoin=True)
        .lazyload(Organisation.domains)
    )
)


def user_for_session(token: str) -> User | None:
    """The user of a live (unexpired, unrevoked) session token, else None. Using a session
    slides its expiry (see `_slide`)."""
    if not token or not is_session_token(token):
        return None
    now = utcnow()
    row = (
        get_session()
        .execute(_LIVE_SESSION, {"token_hash": hash_token(token), "now": now})
        .scalars()
        .first()
    )
    if row is None:
        return None
    _slide(row, now)
    return row.user


def _slide(row: ApiSession, now: datetime) -> None:
    """Move the expiry to a full idle period from now (capped) — only when it was last moved
    more than SESSION_RENEW_MINUTES ago, so a busy pane costs one write an hour, not one per
    request. The UPDATE is conditional on the expiry read, so two requests at once write once,
    and on the row still being unrevoked, so it never revives a session revoked meanwhile."""
    idle, cap, renew = _limits()
    wanted = slid_expiry(now, row.created_at, idle, cap)
    if wanted - row.expires_at <= renew:
        return
    db = get_session()
    db.execute(
        update(ApiSession)
        .where(
            ApiSession.id == row.id,
            ApiSession.expires_at == row.expires_at,
            ApiSession.revoked_at.is_(None),
        )
        .values(expires_at=wanted)
        .execution_options(synchronize_session=False)
    )
    db.commit()
    set_committed_value(row, "expires_at", wanted)  # what the row holds now, not a change


def revoke_session(token: str) -> bool:
    """Revoke one session; True when a live session was revoked."""
    db = get_session()
    result = db.execute(
        update(ApiSession)
        .where(ApiSession.token_hash == hash_token(token), ApiSession.revoked_at.is_(None))
        .values(revoked_at=utcnow())
    )
    db.commit()
    return bool(result.rowcount)


def revoke_user_sessions(user_id: int) -> int:
    """Revoke every session of a user (disconnect, removal by an admin)."""
    db = get_session()
    result = db.execute(
        update(ApiSession)
        .where(ApiSession.user_id == user_id, ApiSession.revoked_at.is_(None))
        .values(revoked_at=utcnow())
    )
    db.commit()
    return result.rowcount
