"""Salesforce OAuth tokens: code exchange (with PKCE), refresh, revoke, and storing them.

Tokens are encrypted at rest. Connection state (new access token, needs re-auth) is written
in its own short transaction so it survives whatever the caller's transaction does.
"""

from __future__ import annotations

import base64
import hashlib
import secrets
from dataclasses import dataclass
from typing import Any

import requests
from flask import current_app
from sqlalchemy import select
from sqlalchemy.orm import Session

from ...auth.crypto import decrypt_text, encrypt_text
from ...db import get_engine, utcnow
from ...http import make_http_session
from ...locks import LockUnavailable, held
from ...models.crm_connections import SalesforceConnection
from ...models.schedule import mark_due
from ...models.tenancy import User
from ..base import CRMAuthError, CRMUnavailable


@dataclass(frozen=True)
class OAuthSettings:
    login_url: str
    client_id: str
    client_secret: str

    @classmethod
    def from_config(cls) -> OAuthSettings:
        config = current_app.config
        return cls(
            config["SALESFORCE_LOGIN_URL"].rstrip("/"),
            config["SALESFORCE_CLIENT_ID"],
            config["SALESFORCE_CLIENT_SECRET"],
        )

    @property
    def token_url(self) -> str:
        return f"{self.login_url}/services/oauth2/token"


def pkce_pair() -> tuple[str, str]:
    """(code_verifier, S256 code_challenge) per RFC 7636."""
    verifier = secrets.token_urlsafe(64)
    challenge = base64.urlsafe_b64encode(hashlib.sha256(verifier.encode()).digest()).rstrip(b"=")
    return verifier, challenge.decode()


def _post_token(
    form: dict[str, str], oauth: OAuthSettings, http: requests.Session | None
) -> dict[str, Any]:
    http = http or make_http_session(service="salesforce")
    data = {**form, "client_id": oauth.client_id, "client_secret": oauth.client_secret}
    try:
        response = http.post(oauth.token_url, data=data, headers={"Accept": "application/json"})
    except (requests.Timeout, requests.ConnectionError) as exc:
        raise CRMUnavailable(
            f"Salesforce token endpoint unreachable ({type(exc).__name__})"
        ) from None
    if response.status_code >= 500:
        raise CRMUnavailable(f"Salesforce token endpoint answered {response.status_code}")
    body = response.json() if response.content else {}
    if response.status_code != 200 or "access_token" not in body:
        raise CRMAuthError(
            f"Salesforce refused the grant ({body.get('error', response.status_code)})"
        )
    return body


def exchange_code(
    code: str,
    verifier: str,
    redirect_uri: str,
    oauth: OAuthSettings,
    http: requests.Session | None = None,
) -> dict[str, Any]:
    form = {
        "grant_type": "authorization_code",
        "code": code,
        "redirect_uri": redirect_uri,
        "code_verifier": verifier,
    }
    return _post_token(form, oauth, http)


def username_of(token_response: dict[str, Any], http: requests.Session | None = None) -> str:
    """The Salesforce username, from the identity URL (best effort: "" when unavailable)."""
    try:
        answer = (http or make_http_session(service="salesforce")).get(
            token_response["id"],
            headers={"Authorization": f"Bearer {token_response['access_token']}"},
        )
        return str(answer.json().get("username", "")) if answer.status_code == 200 else ""
    except (requests.RequestException, ValueError, KeyError):
        return ""


def identity_from(token_response: dict[str, Any]) -> tuple[str, str]:
    """(org id, user id) from the token response's identity URL (…/id/00D…/005…)."""
    parts = token_response.get("id", "").rstrip("/").split("/")
    if len(parts) < 2 or not parts[-2].startswith("00D") or not parts[-1].startswith("005"):
        raise CRMAuthError("Salesforce token response has no identity URL")
    return parts[-2], parts[-1]


def state_session() -> Session:
    """A session of its own for connection state (committed independently of the caller)."""
    return Session(bind=get_engine(), expire_on_commit=False)


def store_connection(
    user: User, token_response: dict[str, Any], username: str = ""
) -> SalesforceConnection:
    sf_org_id, sf_user_id = identity_from(token_response)
    with state_session() as session:
        conn = session.scalar(
            select(SalesforceConnection).where(SalesforceConnection.user_id == user.id)
        )
        if conn is None:
            conn = SalesforceConnection(org_id=user.org_id, user_id=user.id)
            session.add(conn)
        conn.sf_org_id, conn.sf_user_id, conn.sf_username = sf_org_id, sf_user_id, username
        conn.instance_url = token_response["instance_url"].rstrip("/")
        conn.access_token_encrypted = encrypt_text(token_response["access_token"])
        if token_response.get("refresh_token"):
            conn.refresh_token_encrypted = encrypt_text(token_response["refresh_token"])
        conn.needs_reauth, conn.needs_reauth_since, conn.last_error = False, None, ""
        conn.connected_at = utcnow()
        mark_due(session, user.id, user.org_id)  # a renewed CRM grant resumes sync at once
        session.commit()
        return conn


def access_token_of(conn: SalesforceConnection) -> str:
    return decrypt_text(conn.access_token_encrypted) if conn.access_token_encrypted else ""


def mark_needs_reauth(connection_id: int, reason: str) -> None:
    with state_session() as session:
        conn = session.get(SalesforceConnection, connection_id)
        if conn is not None and not conn.needs_reauth:
            conn.needs_reauth, conn.needs_reauth_since = True, utcnow()
            conn.last_error = reason[:500]
            session.commit()


def refresh_access_token(
    connection_id: int,
    oauth: OAuthSettings,
    http: requests.Session | None = None,
    refused: str | None = None,
) -> str:
    """A new access token from the stored refresh token; a refused grant → needs re-auth.

    Under the connection's lock, the stored token is read again first: when it is no longer
    `refused` (the access token Salesforce just turned down), another request or worker has
    refreshed meanwhile and its token is used, so N concurrent callers make one refresh."""
    try:
        with held(f"salesforce-token:{connection_id}"):
            with state_session() as session:
                conn = session.get(SalesforceConnection, connection_id)
                if conn is None or not conn.refresh_token_encrypted:
                    raise CRMAuthError("no Salesforce connection to refresh")
                if conn.needs_reauth:
                    raise CRMAuthError("Salesforce needs to be connected again")
                current = access_token_of(conn)
                if refused is not None and current and current != refused:
                    return current
                refresh_token = decrypt_text(conn.refresh_token_encrypted)
            return _refresh(connection_id, refresh_token, oauth, http)
    except LockUnavailable:
        raise CRMUnavailable("another Salesforce token refresh is taking too long") from None


def _refresh(
    connection_id: int, refresh_token: str, oauth: OAuthSettings, http: requests.Session | None
) -> str:
    try:
        body = _post_token(
            {"grant_type": "refresh_token", "refresh_token": refresh_token}, oauth, http
        )
    except CRMAuthError as exc:
        rotated = _rotated_meanwhile(connection_id, refresh_token)
        if rotated is not None:  # a holder of an expired lock rotated the token meanwhile
            return rotated
        mark_needs_reauth(connection_id, str(exc))
        raise
    with state_session() as session:
        conn = session.get(SalesforceConnection, connection_id)
        conn.access_token_encrypted = encrypt_text(body["access_token"])
        if body.get("refresh_token"):  # rotation: the old refresh token is now invalid
            conn.refresh_token_encrypted = encrypt_text(body["refresh_token"])
        if body.get("instance_url"):
            conn.instance_url = body["instance_url"].rstrip("/")
        conn.refreshed_at = utcnow()
        session.commit()
    return body["access_token"]


def _rotated_meanwhile(connection_id: int, used: str) -> str | None:
    """With refresh token rotation on, each refresh token works once: a refresh refused
    because another worker has just rotated the token is no reason for re-auth. The access
    token that worker stored is then the fresh one. (The lock prevents this race; this is the
    fall-back for a refresh that outlived its lock.)"""
    with state_session() as session:
        conn = session.get(SalesforceConnection, connection_id)
        if conn is None or not conn.refresh_token_encrypted:
            return None
        if decrypt_text(conn.refresh_token_encrypted) == used:
            return None
        return access_token_of(conn)


def revoke_and_delete(
    user: User, oauth: OAuthSettings, http: requests.Session | None = None
) -> bool:
    """Disconnect: revoke the refresh token at Salesforce (best effort) and forget it."""
    with state_session() as session:
        conn = session.scalar(
            select(SalesforceConnection).where(SalesforceConnection.user_id == user.id)
        )
        if conn is None:
            return False
        token = decrypt_text(conn.refresh_token_encrypted) if conn.refresh_token_encrypted else ""
        session.delete(conn)
        session.commit()
    if token:
        try:
            (http or make_http_session(service="salesforce")).post(
                f"{oauth.login_url}/services/oauth2/revoke", data={"token": token}
            )
        except requests.RequestException:
            current_app.logger.warning(
                "Salesforce token revocation failed; connection forgotten anyway"
            )
    return True
