"""The token store: one encrypted MSAL token cache per user, and Graph tokens for the sync.

The cache is written back only when MSAL says it changed. A refresh that fails with
invalid_grant / interaction_required (revoked consent, expired refresh token, password reset,
Conditional Access) marks the connection as needing re-authentication and raises NeedsReauth.
Connection rows are read and written in their own short transaction, so a caller's pending
work is never committed as a side effect.
"""

from __future__ import annotations

import logging

import msal
import requests
from flask import current_app
from sqlalchemy import select
from sqlalchemy.orm import Session

from ..db import utcnow
from ..locks import LockUnavailable, held
from ..models.connections import MicrosoftConnection
from ..models.schedule import mark_due
from ..models.tenancy import User
from .crypto import DecryptionError, decrypt_text, encrypt_text
from .msal_client import GRAPH_SCOPES, build_msal_app

log = logging.getLogger(__name__)
REAUTH_ERRORS = frozenset(
    {"invalid_grant", "interaction_required", "consent_required", "login_required"}
)


class NeedsReauth(Exception):
    """The user must sign in again before we can act for them (shown by the health view)."""

    def __init__(self, reason: str, description: str = "") -> None:
        super().__init__(f"{reason}: {description}" if description else reason)
        self.reason = reason
        self.description = description


class TokenUnavailable(Exception):
    """A transient failure getting a token (network, identity platform 5xx): retry later."""


def _own_session() -> Session:
    return current_app.extensions["db_sessionmaker"]()


def load_cache(connection: MicrosoftConnection) -> msal.SerializableTokenCache:
    cache = msal.SerializableTokenCache()
    if connection.token_cache_encrypted:
        cache.deserialize(decrypt_text(connection.token_cache_encrypted))
    return cache


def store_connection(
    user: User, cache: msal.SerializableTokenCache, home_account_id: str, scopes: list[str]
) -> None:
    """After a sign-in: save the user's cache (encrypted) and clear any re-auth flag."""
    with _own_session() as db:
        connection = db.scalar(
            select(MicrosoftConnection).where(MicrosoftConnection.user_id == user.id)
        )
        if connection is None:
            connection = MicrosoftConnection(org_id=user.org_id, user_id=user.id)
            db.add(connection)
            connection.connected_at = utcnow()
        connection.token_cache_encrypted = encrypt_text(cache.serialize())
        connection.home_account_id = home_account_id
        connection.scopes = " ".join(scopes)
        connection.updated_at = utcnow()
        connection.needs_reauth = False
        connection.needs_reauth_since = None
        connection.last_error = ""
        mark_due(db, user.id, user.org_id)  # a first or renewed grant: sync at once
        db.commit()


def _mark_needs_reauth(db: Session, connection: MicrosoftConnection, reason: str) -> None:
    if not connection.needs_reauth:
        connection.needs_reauth = True
        connection.needs_reauth_since = utcnow()
    connection.last_error = reason[:500]
    connection.updated_at = utcnow()
    db.commit()


def _pick_account(app: msal.ClientApplication, connection: MicrosoftConnection, user: User):
    for account in app.get_accounts():
        if account.get("home_account_id") == connection.home_account_id:
            return account
        if account.get("local_account_id") == user.object_id:
            return account
    return None


def graph_token_for(
    user: User,
    force_refresh: bool = False,
    refused: str | None = None,
    scopes: list[str] | None = None,
) -> str:
    """A Graph access token for `user` (delegated Mail.Read, Calendars.Read, User.Read).

    Served from the cache while valid, else refreshed with the refresh token. Pass
    force_refresh=True (and the `refused` token) after Graph answered 401 to a token the cache
    still thought valid. Raises NeedsReauth or TokenUnavailable.

    The cache is read, refreshed and written back under the user's lock (MSAL's cache is a
    read-modify-write blob: two refreshes at once would each write back their own copy), and
    re-read inside it, so a forced refresh that another caller already made is not repeated.
    """
    try:
        with held(f"microsoft-token:{user.id}"):
            return _graph_token(user, force_refresh, refused, scopes)
    except LockUnavailable:
        raise TokenUnavailable("another Microsoft token refresh is taking too long") from None


def _graph_token(
    user: User, force_refresh: bool, refused: str | None, scopes: list[str] | None
) -> str:
    with _own_session() as db:
        connection = db.scalar(
            select(MicrosoftConnection).where(MicrosoftConnection.user_id == user.id)
        )
        if connection is None or not connection.token_cache_encrypted:
            raise NeedsReauth("not_connected", "the user has not connected Microsoft 365")
        if connection.needs_reauth:
            raise NeedsReauth("needs_reauth", connection.last_error)
        try:
            cache = load_cache(connection)
        except DecryptionError:
            # The key it was written with is gone from ENCRYPTION_KEYS: only a new sign-in
            # can give us tokens again, so say so instead of failing every session.
            _mark_needs_reauth(db, connection, "cache_unreadable: encryption key not configured")
            raise NeedsReauth("cache_unreadable") from None
        app = build_msal_app(cache)
        account = _pick_account(app, connection, user)
        if account is None:
            _mark_needs_reauth(db, connection, "no_account: no signed-in account in the cache")
            raise NeedsReauth("no_account")
        db.commit()  # no transaction stays open across the identity platform's HTTP call
        try:
            # Other scopes (the admin console's directory read) come from the same refresh
            # token, as consented for the tenant.
            wanted = scopes or GRAPH_SCOPES
            result = None
            if force_refresh and refused:
                # Someone may have refreshed since `refused` was handed out: use theirs.
                result = app.acquire_token_silent_with_error(wanted, account=account)
                if not result or result.get("access_token") in (None, refused):
                    result = None
            if result is None:
                result = app.acquire_token_silent_with_error(
                    wanted, account=account, force_refresh=force_refresh
                )
        except (requests.RequestException, ValueError) as exc:
            raise TokenUnavailable(f"identity platform unreachable: {type(exc).__name__}") from exc
        if cache.has_state_changed:
            connection.token_cache_encrypted = encrypt_text(cache.serialize())
            connection.updated_at = utcnow()
        if result and "access_token" in result:
            connection.last_error = ""
            db.commit()
            return result["access_token"]
        if result is None:
            _mark_needs_reauth(db, connection, "no_refresh_token: nothing to refresh with")
            raise NeedsReauth("no_refresh_token")
        error = str(result.get("error", "unknown_error"))
        description = str(result.get("error_description", ""))[:300]
        if error in REAUTH_ERRORS and scopes:
            # Consent for an extra scope is missing: the mail grant itself is fine.
            raise TokenUnavailable(f"{error}: {description}")
        if error in REAUTH_ERRORS:
            log.info("user %s needs re-authentication: %s", user.id, error)
            _mark_needs_reauth(db, connection, f"{error}: {description}")
            raise NeedsReauth(error, description)
        connection.last_error = f"{error}: {description}"[:500]
        db.commit()
        raise TokenUnavailable(f"{error}: {description}")


def disconnect(user: User) -> bool:
    """Forget the user's Microsoft tokens (the user or an admin revoked access)."""
    with _own_session() as db:
        connection = db.scalar(
            select(MicrosoftConnection).where(MicrosoftConnection.user_id == user.id)
        )
        if connection is None:
            return False
        db.delete(connection)
        db.commit()
        return True
