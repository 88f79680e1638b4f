"""The token store: one encrypted MSAL token cache per user, and Graph tokens for the sync.

The cache is written back only when MSAL says it changed. A refresh that fails with
invalid_grant / interaction_required (revoked consent, expired refresh token, password reset,
Conditional Access) marks the connection as needing re-authentication and raises NeedsReauth.
Connection rows are read and written in their own short transaction, so a caller's pending
work is never committed as a side effect.
"""

from __future__ import annotations

import hashlib
import logging
import time

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


# MSAL refreshes an access token with less than five minutes left; so does the fast path.
FRESH_FOR_SECONDS = 300
# Access tokens remembered per process (a worker syncs every mailbox in turn): beyond this,
# the memory is dropped and refilled from the database.
REMEMBERED_MAX = 50_000


def _remembered() -> dict[int, tuple[bytes, str, float]]:
    """user id -> (digest of the stored encrypted cache, its Graph access token, when the
    token expires (epoch seconds)), for this app in this process."""
    return current_app.extensions.setdefault("courier_graph_tokens", {})


def _digest(encrypted: str) -> bytes:
    """The stored cache as the keys that read it saw it: dropping a key from ENCRYPTION_KEYS
    sends the next caller through the locked path (which finds the cache unreadable)."""
    keys = repr(tuple(current_app.config.get("ENCRYPTION_KEYS") or ())).encode()
    return hashlib.blake2b(encrypted.encode() + b"\0" + keys, digest_size=16).digest()


def _remember(user_id: int, encrypted: str, token: str, expires_at: float) -> None:
    remembered = _remembered()
    if len(remembered) >= REMEMBERED_MAX:
        remembered.clear()
    remembered[user_id] = (_digest(encrypted), token, expires_at)


def _token_still_stored(user: User) -> str | None:
    """A Graph access token from the user's stored cache without the lock (one indexed read,
    nothing written), when the cache holds one for our client, the user's account and the
    Graph scopes with more than FRESH_FOR_SECONDS left and not yet due for MSAL's proactive
    refresh; else None (the caller takes the locked path, which refreshes). A token this
    process already took from the very cache still stored is handed out again without even
    decrypting it; a worker that never served this user reads it from the cache, as MSAL's
    own silent lookup would, so its first session of each mailbox needs no lock either."""
    with _own_session() as db:
        row = db.execute(
            select(
                MicrosoftConnection.token_cache_encrypted,
                MicrosoftConnection.needs_reauth,
                MicrosoftConnection.home_account_id,
            ).where(MicrosoftConnection.user_id == user.id)
        ).first()
    if row is None or row.needs_reauth or not row.token_cache_encrypted:
        return None
    now = time.time()
    digest = _digest(row.token_cache_encrypted)
    known = _remembered().get(user.id)
    if known is not None and known[0] == digest and known[2] - now > FRESH_FOR_SECONDS:
        return known[1]
    try:
        cache = msal.SerializableTokenCache()
        cache.deserialize(decrypt_text(row.token_cache_encrypted))
    except (DecryptionError, ValueError):
        return None  # the locked path says why (and flags the connection)
    entry = usable_access_token(
        cache, current_app.config["MS_CLIENT_ID"], row.home_account_id, GRAPH_SCOPES, now
    )
    if entry is None:
        return None
    _remember(user.id, row.token_cache_encrypted, entry["secret"], float(entry["expires_on"]))
    return entry["secret"]


def usable_access_token(
    cache: msal.SerializableTokenCache,
    client_id: str,
    home_account_id: str,
    scopes: list[str],
    now: float,
) -> dict | None:
    """The cache's access token that MSAL's silent lookup would hand out as is: our client,
    this account, every scope asked (MSAL's own search), a bearer token with more than
    FRESH_FOR_SECONDS left whose `refresh_on` (when the identity platform set one) has not
    come. None when MSAL would refresh, or when nothing matches."""
    if not home_account_id:
        return None
    entries = cache.search(
        msal.TokenCache.CredentialType.ACCESS_TOKEN,
        target=scopes,
        query={"client_id": client_id, "home_account_id": home_account_id},
        now=now,
    )
    for entry in entries:
        if str(entry.get("token_type", "Bearer")).lower() != "bearer":
            continue  # proof-of-possession and SSH certificates are not Graph bearer tokens
        expires_on = float(entry.get("expires_on") or 0)
        refresh_on = float(entry.get("refresh_on") or expires_on)
        if expires_on - now > FRESH_FOR_SECONDS and refresh_on > now:
            return entry
    return None


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
    A still-valid token of the stored cache is handed out without the lock, the MSAL client
    or any write (`_token_still_stored`: one row read; no decryption either for a token this
    process already took from the very cache still stored), so the refresh, and every write
    of the cache, stays the locked path's alone.
    """
    if not force_refresh and scopes is None:
        token = _token_still_stored(user)
        if token is not None:
            return token
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
            stored = connection.token_cache_encrypted
            db.commit()
            expires_in = result.get("expires_in")
            if scopes is None and isinstance(expires_in, int | float):
                _remember(user.id, stored, result["access_token"], time.time() + expires_in)
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
