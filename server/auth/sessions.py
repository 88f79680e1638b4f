"""Session tokens for our API: random, stored only as a SHA-256 hash, expiring, revocable.

The pane gets one after sign-in (via the one-time code exchange) and sends it as
`Authorization: Bearer <token>`. Browser pages (admin console) keep the same kind of token in
Flask's signed, HttpOnly session cookie.
"""

from __future__ import annotations

import hashlib
import secrets
from datetime import datetime, timedelta

from flask import current_app
from sqlalchemy import select, update
from sqlalchemy.orm import defaultload

from ..db import get_session, utcnow
from ..models.sessions import ApiSession
from ..models.tenancy import Organisation, User

# A prefix that no JWT can start with, so a bearer token's kind is known without parsing.
TOKEN_PREFIX = "cs_"  # noqa: S105 (a public prefix, not a secret)


def hash_token(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


def is_session_token(token: str) -> bool:
    return token.startswith(TOKEN_PREFIX)


def issue_session(user: User, ttl_hours: int | None = None) -> str:
    """Create a session for `user` and return the token (shown once, never stored)."""
    hours = ttl_hours if ttl_hours is not None else current_app.config["SESSION_TTL_HOURS"]
    token = TOKEN_PREFIX + secrets.token_urlsafe(32)
    db = get_session()
    db.add(
        ApiSession(
            token_hash=hash_token(token),
            org_id=user.org_id,
            user_id=user.id,
            expires_at=utcnow() + timedelta(hours=hours),
        )
    )
    db.commit()
    return token


def session_expiry(token: str) -> datetime | None:
    row = get_session().scalar(select(ApiSession).where(ApiSession.token_hash == hash_token(token)))
    return row.expires_at if row else None


def user_for_session(token: str) -> User | None:
    """The user of a live (unexpired, unrevoked) session token, else None."""
    if not token or not is_session_token(token):
        return None
    # Every API request asks this, so it is one query: the user with their organisation
    # joined, and the organisation's domains only loaded by the views that read them.
    return get_session().scalar(
        select(User)
        .join(ApiSession, ApiSession.user_id == User.id)
        .where(
            ApiSession.token_hash == hash_token(token),
            ApiSession.revoked_at.is_(None),
            ApiSession.expires_at > utcnow(),
        )
        .options(defaultload(User.organisation).lazyload(Organisation.domains))
    )


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
