"""App-only Microsoft Graph tokens for application mode: MSAL's client-credentials flow.

One token cache per organisation (= tenant), Fernet-encrypted at rest like the users' caches
(table app_token_caches), refreshed under one Redis lock per organisation (server/locks.py, the
same read-modify-write discipline as auth/tokens.py): the cache is re-read inside the lock, so
a token another worker just fetched is used instead of fetching a second one.

The credential is the app registration's certificate when configured (MSAL signs a client
assertion: https://learn.microsoft.com/entra/identity-platform/certificate-credentials), else
its client secret (https://learn.microsoft.com/entra/identity-platform/v2-oauth2-client-creds-grant-flow).
Application permissions reach the token only after a tenant administrator's consent; they are
listed in its `roles` claim (https://learn.microsoft.com/entra/identity-platform/access-token-claims-reference).
A token without the roles the sync needs is treated as "no grant" (AppGrantMissing) and not
kept, so a consent given a minute later takes effect at the next request.

Never logged or stored in clear: tokens, the private key, the secret. What is recorded on the
organisation (app_grant_error) is the identity platform's error code and description.
"""

from __future__ import annotations

import logging
from datetime import timedelta
from pathlib import Path

import jwt
import msal
import requests
from flask import current_app
from sqlalchemy import select
from sqlalchemy.orm import Session

from ..db import utcnow
from ..locks import LockUnavailable, held
from ..models.connections import AppTokenCache
from ..models.schedule import mark_due
from ..models.tenancy import Organisation, User
from .crypto import DecryptionError, decrypt_text, encrypt_text
from .msal_client import build_msal_app
from .tokens import TokenUnavailable

log = logging.getLogger(__name__)

APP_SCOPES = ["https://graph.microsoft.com/.default"]
# Application permissions and what each is for (README: "Application mode: settings").
APP_PERMISSIONS = {
    "Mail.Read": "read the in-scope users' mail (delta of synced folders, notifications)",
    "Calendars.Read": "read their calendars (calendarView delta, event change notifications)",
    "User.Read.All": "read the directory: the users to sync, their addresses",
    "GroupMember.Read.All": "read the members of the Microsoft 365 group chosen as the scope",
}
# Without these the sync cannot read a mailbox at all.
REQUIRED_ROLES = ("Mail.Read", "Calendars.Read")
# AADSTS codes (https://learn.microsoft.com/entra/identity-platform/reference-error-codes):
# the credential itself is refused...
CREDENTIAL_CODES = {
    7000215,  # Invalid client secret provided.
    7000222,  # The provided client secret keys are expired.
    700027,  # Client assertion failed signature validation (unknown or wrong certificate).
    700024,  # Client assertion is not within its valid time range.
    700023,  # Client assertion audience claim does not match Realm issuer.
    7000274,  # Key was found, but the certificate has expired.
}
# ...or the tenant has no grant for the application at all.
CONSENT_CODES = {
    700016,  # Application not found in the directory (never consented in this tenant).
    7000229,  # The client application is missing service principal in the tenant.
    65001,  # The user or administrator has not consented to use the application.
    7000112,  # Application is disabled.
}
RECHECK_EVERY = timedelta(minutes=10)  # how often a working grant is written down again


def required_roles() -> tuple[str, ...]:
    """The roles a token must carry: none when the tenant grants mailbox access through RBAC
    for Applications (Exchange's own role assignments, which are not in the token;
    https://learn.microsoft.com/exchange/permissions-exo/application-rbac). Graph's answer
    per mailbox decides then."""
    return () if current_app.config.get("MS_APP_EXCHANGE_RBAC") else REQUIRED_ROLES


class AppGrantMissing(Exception):
    """Application mode cannot get a usable app-only token: an admin must act.

    `reason`: "not_configured" (no usable certificate/secret in the settings),
    "credential_rejected" (wrong or expired certificate/secret), "consent_missing" (admin
    consent never granted, revoked, or without the needed permissions).
    """

    def __init__(self, reason: str, description: str = "") -> None:
        super().__init__(f"{reason}: {description}" if description else reason)
        self.reason = reason
        self.description = description


def _own_session() -> Session:
    return current_app.extensions["db_sessionmaker"]()


def app_credential() -> str | dict:
    """MSAL's client_credential from the settings: the certificate if one is configured."""
    config = current_app.config
    key_path = config.get("MS_APP_CERT_KEY_PATH", "")
    if not key_path:
        return config.get("MS_APP_CLIENT_SECRET") or config["MS_CLIENT_SECRET"]
    try:
        credential: dict = {"private_key": Path(key_path).read_text()}
        if config.get("MS_APP_CERT_PATH"):
            # MSAL computes the SHA-256 thumbprint from it: a PS256 assertion with x5t#S256.
            credential["public_certificate"] = Path(config["MS_APP_CERT_PATH"]).read_text()
        elif config.get("MS_APP_CERT_THUMBPRINT"):
            credential["thumbprint"] = config["MS_APP_CERT_THUMBPRINT"]  # SHA-1: RS256, x5t
    except OSError as exc:
        raise AppGrantMissing(
            "not_configured", f"certificate file unreadable: {exc.strerror}"
        ) from None
    if "public_certificate" not in credential and "thumbprint" not in credential:
        raise AppGrantMissing(
            "not_configured", "MS_APP_CERT_PATH (or MS_APP_CERT_THUMBPRINT) is not set"
        )
    if config.get("MS_APP_CERT_PASSPHRASE"):
        credential["passphrase"] = config["MS_APP_CERT_PASSPHRASE"]
    return credential


def roles_of(access_token: str) -> list[str]:
    """The application permissions an app-only token carries (its `roles` claim). Read
    without verifying: Graph verifies it; we only decide whether asking Graph is worth it."""
    try:
        claims = jwt.decode(access_token, options={"verify_signature": False})
    except jwt.InvalidTokenError:
        return []
    roles = claims.get("roles") or []
    return [str(r) for r in roles] if isinstance(roles, list) else []


def app_graph_token(
    org: Organisation, force_refresh: bool = False, refused: str | None = None
) -> str:
    """An app-only Graph token for the organisation's tenant (cached until near expiry).

    Pass force_refresh=True with the `refused` token after Graph answered 401 to it. Raises
    AppGrantMissing (an admin must act; recorded on the organisation for health and the
    console) or TokenUnavailable (transient: retry later)."""
    try:
        with held(f"microsoft-app-token:{org.id}"):
            return _app_token(org.id, org.tenant_id, force_refresh, refused)
    except LockUnavailable:
        raise TokenUnavailable("another app-only token request is taking too long") from None


def _load(db: Session, org_id: int) -> tuple[AppTokenCache, msal.SerializableTokenCache]:
    row = db.get(AppTokenCache, org_id)
    if row is None:
        row = AppTokenCache(org_id=org_id, token_cache_encrypted="")
        db.add(row)
    cache = msal.SerializableTokenCache()
    if row.token_cache_encrypted:
        try:
            cache.deserialize(decrypt_text(row.token_cache_encrypted))
        except DecryptionError:
            # The key is gone from ENCRYPTION_KEYS: the credential can fetch a new token,
            # nobody needs to act. Start from an empty cache.
            cache = msal.SerializableTokenCache()
    return row, cache


def _drop_access_tokens(cache: msal.SerializableTokenCache, only: str | None = None) -> None:
    for entry in list(cache.search(msal.TokenCache.CredentialType.ACCESS_TOKEN)):
        if only is None or entry.get("secret") == only:
            cache.remove_at(entry)


def _app_token(org_id: int, tenant_id: str, force_refresh: bool, refused: str | None) -> str:
    with _own_session() as db:
        row, cache = _load(db, org_id)
        if force_refresh:
            # Someone may have fetched a new token since `refused` was handed out: only the
            # refused one is dropped, so theirs is used.
            _drop_access_tokens(cache, refused)
        db.commit()  # no transaction stays open across the identity platform's HTTP call
        try:
            app = build_msal_app(cache, tenant=tenant_id, credential=app_credential())
            result = app.acquire_token_for_client(APP_SCOPES)
        except AppGrantMissing as exc:
            _record(db, org_id, str(exc))
            raise
        except requests.RequestException as exc:
            raise TokenUnavailable(f"identity platform unreachable: {type(exc).__name__}") from exc
        except ValueError as exc:  # MSAL refuses a malformed key or certificate
            _record(db, org_id, f"not_configured: {type(exc).__name__}")
            raise AppGrantMissing(
                "not_configured", "the certificate or key cannot be used"
            ) from None
        token = (result or {}).get("access_token")
        if token:
            missing = [r for r in required_roles() if r not in roles_of(token)]
            if missing:
                _drop_access_tokens(cache)  # so a consent given meanwhile counts at once
                _store(db, row, cache)
                reason = "consent_missing"
                detail = f"the tenant granted no {', '.join(missing)} application permission"
                _record(db, org_id, f"{reason}: {detail}")
                raise AppGrantMissing(reason, detail)
            _store(db, row, cache)
            _record(db, org_id, "")
            return token
        error = str((result or {}).get("error", "unknown_error"))
        description = str((result or {}).get("error_description", ""))[:300]
        codes = set((result or {}).get("error_codes") or [])
        reason = _reason(error, codes)
        if reason:  # an admin must act: recorded for health and the console
            _record(db, org_id, f"{reason}: {description}")
            log.warning("app-only token refused for organisation %s: %s", org_id, error)
            raise AppGrantMissing(reason, description)
        raise TokenUnavailable(f"{error}: {description}")  # transient: not recorded


def _reason(error: str, codes: set) -> str:
    if codes & CREDENTIAL_CODES or error == "invalid_client":
        return "credential_rejected"
    if codes & CONSENT_CODES or error == "unauthorized_client":
        return "consent_missing"
    return ""


def _store(db: Session, row: AppTokenCache, cache: msal.SerializableTokenCache) -> None:
    if cache.has_state_changed:
        row.token_cache_encrypted = encrypt_text(cache.serialize())
        row.updated_at = utcnow()
        db.commit()


def _record(db: Session, org_id: int, error: str) -> None:
    """Write the grant's state on the organisation, only when it changed (or now and then),
    so a token served from the cache costs no write."""
    org = db.get(Organisation, org_id)
    if org is None:
        return
    now = utcnow()
    stale = org.app_grant_checked_at is None or now - org.app_grant_checked_at > RECHECK_EVERY
    if org.app_grant_error != error[:500] or stale:
        if org.app_grant_error and not error:
            _mark_in_scope_due(db, org)  # the grant works again: their sessions resume now
        org.app_grant_error = error[:500]
        org.app_grant_checked_at = now
        db.commit()


def _mark_in_scope_due(db: Session, org: Organisation) -> None:
    for user_id in db.scalars(select(User.id).where(User.org_id == org.id, User.app_scope == "in")):
        mark_due(db, user_id, org.id)


def forget_app_tokens(db: Session, org: Organisation) -> None:
    """Drop the organisation's cached app-only tokens (e.g. after a new consent: the next
    token carries the permissions just granted). The caller commits."""
    row = db.get(AppTokenCache, org.id)
    if row is not None:
        row.token_cache_encrypted = ""
        row.updated_at = utcnow()


def record_app_consent(db: Session, org: Organisation) -> None:
    """An administrator granted the application permissions (admin consent callback): note
    when, clear the last error and drop cached tokens. The caller commits."""
    org.app_consent_at = utcnow()
    org.app_grant_error = ""
    forget_app_tokens(db, org)
    _mark_in_scope_due(db, org)


def app_grant_status(org: Organisation, check: bool = False) -> dict:
    """The application grant as the overview and the console show it.

    {"mode", "state": "granted" | "missing" | "unchecked" | "unavailable", "reason",
     "error", "consented_at", "checked_at", "roles" (with check=True), "permissions"}.
    With check=True a token is requested now (one call to the identity platform at most;
    the cache answers while its token is valid)."""
    roles: list[str] | None = None
    state = ""
    if check:
        try:
            roles = roles_of(app_graph_token(org))
            state = "granted"
        except AppGrantMissing:
            state = "missing"
        except TokenUnavailable:
            state = "unavailable"
    with _own_session() as db:  # what the token requests recorded, in their own sessions
        fresh = db.get(Organisation, org.id)
        error, checked_at = fresh.app_grant_error, fresh.app_grant_checked_at
    if not state:
        state = "unchecked" if checked_at is None else ("missing" if error else "granted")
    return {
        "mode": org.sync_mode,
        "state": state,
        "reason": error.split(":", 1)[0] if error else "",
        "error": error,
        "consented_at": org.app_consent_at.isoformat() if org.app_consent_at else None,
        "checked_at": checked_at.isoformat() if checked_at else None,
        "roles": roles,
        "permissions": APP_PERMISSIONS,
    }
