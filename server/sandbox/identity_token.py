"""The sandbox's token endpoint, POST /<tenant>/oauth2/v2.0/token, with the three grants MSAL
for Python uses: authorization_code (with PKCE), refresh_token and client_credentials. The
client proves itself with its secret or a certificate's signed assertion.

Refresh tokens stay valid while the user's grant exists; the revoke-grant switch
(identity_switches.py) removes the grant, so the next refresh fails with invalid_grant as
Microsoft's does after consent is revoked.
"""

from __future__ import annotations

import secrets
import time

from flask import Blueprint, jsonify, request

from . import identity_state as ids
from .identity_app import roles_for
from .identity_app import state as app_state
from .identity_assertion import JWT_BEARER, AssertionRefused, verify_client_assertion
from .identity_http import (
    GUID,
    api_audiences,
    audience_of,
    base_url,
    clients,
    known_tenant,
    oauth_error,
)

bp = Blueprint("sandbox_identity_token", __name__)


def _authenticate_client(tenant: str, client_id: str, client: dict, secret: str):
    """A client secret, or a certificate's signed assertion (identity_assertion.py); None when
    the client proved who it is, else the identity platform's error answer."""
    assertion_type = request.form.get("client_assertion_type")
    if assertion_type is None:
        if secrets.compare_digest(secret.encode(), str(client["secret"]).encode()):
            return None
        app_state().count("bad_secret")
        return oauth_error("invalid_client", "AADSTS7000215: Invalid client secret provided.", 401)
    if assertion_type != JWT_BEARER:
        return oauth_error(
            "invalid_request", "AADSTS50027: JWT token is invalid or malformed.", 400
        )
    try:
        verify_client_assertion(
            request.form.get("client_assertion", ""),
            client_id,
            f"{base_url()}/{tenant}/oauth2/v2.0/token",
        )
    except AssertionRefused as exc:
        app_state().count("bad_assertion")
        return oauth_error("invalid_client", exc.description, 401)
    return None


def _client_credentials() -> tuple[str, str]:
    if request.authorization and request.authorization.type == "basic":
        return request.authorization.username or "", request.authorization.password or ""
    return request.form.get("client_id", ""), request.form.get("client_secret", "")


def _token_response(user, client_id: str, scopes: list[str], nonce: str | None, grant):
    st = ids.state()
    try:
        resource, permissions = ids.split_scopes(scopes, api_audiences())
    except ValueError as exc:
        return oauth_error("invalid_scope", str(exc))
    missing = st.withheld.get(user.tenant_id, set()) & set(permissions)
    if missing:
        # https://learn.microsoft.com/entra/identity-platform/reference-error-codes
        # (AADSTS65001 DelegationDoesNotExist); MSAL surfaces it as invalid_grant.
        return oauth_error(
            "invalid_grant",
            f"AADSTS65001: The user or administrator has not consented to use the application "
            f"with ID '{client_id}'. Send an interactive authorization request for this user "
            f"and resource. Missing: {' '.join(sorted(missing))}",
        )
    token, lifetime = ids.access_token(
        st, base_url(), user, client_id, resource, permissions, audience=audience_of(resource)
    )
    granted = [s for s in scopes if s in ids.OIDC_SCOPES] + [
        p if resource == ids.GRAPH_RESOURCE else f"{resource}/{p}" for p in permissions
    ]
    body = {
        "token_type": "Bearer",
        "scope": " ".join(granted),
        "expires_in": lifetime,
        "ext_expires_in": lifetime,
        "access_token": token,
    }
    if "openid" in scopes:
        body["id_token"] = ids.id_token(st, base_url(), user, client_id, nonce)
    if "offline_access" in scopes:
        refresh = secrets.token_urlsafe(48)
        with st.lock:
            st.refresh_tokens[refresh] = grant
        body["refresh_token"] = refresh
    if request.form.get("client_info") == "1":
        body["client_info"] = ids.client_info(user)
    return jsonify(body)


def _authorization_code_grant(client_id: str, scopes: list[str]):
    st = ids.state()
    with st.lock:
        code = st.codes.pop(request.form.get("code", ""), None)  # single use
    if code is None or code.expires_at < time.time() or code.client_id != client_id:
        return oauth_error(
            "invalid_grant",
            "AADSTS70008: The provided authorization code "
            "or refresh token has expired or was already used.",
        )
    if code.redirect_uri != request.form.get("redirect_uri"):
        return oauth_error(
            "invalid_grant",
            "AADSTS50148: The redirect_uri does not match "
            "the one used in the authorization request.",
        )
    if not ids.pkce_matches(
        request.form.get("code_verifier"), code.code_challenge, code.code_challenge_method
    ):
        return oauth_error(
            "invalid_grant",
            "AADSTS501481: The Code_Verifier does not match the "
            "code_challenge supplied in the authorization request.",
        )
    grant = st.grants.get((code.user.tenant_id, code.user.object_id, client_id))
    if grant is None:
        return oauth_error("invalid_grant", "AADSTS50173: The grant was revoked.")
    return _token_response(code.user, client_id, scopes or code.scopes, code.nonce, grant)


def _refresh_token_grant(client_id: str, scopes: list[str]):
    st = ids.state()
    grant = st.refresh_tokens.get(request.form.get("refresh_token", ""))
    live = (
        grant is not None
        and st.grants.get((grant.user.tenant_id, grant.user.object_id, client_id)) is grant
    )
    if not live or grant.client_id != client_id:
        return oauth_error(
            "invalid_grant",
            "AADSTS50173: The provided grant has expired due to it being "
            "revoked, a fresh auth token is needed.",
        )
    return _token_response(grant.user, client_id, scopes, None, grant)


def _client_credentials_grant(tenant: str, client_id: str, scopes: list[str]):
    if not GUID.match(tenant):
        return oauth_error(
            "invalid_request",
            "AADSTS90009: Use a tenant-specific endpoint for the client credentials flow.",
        )
    resources = {s.rpartition("/")[0] for s in scopes if s.endswith("/.default")}
    if len(resources) != 1 or len(scopes) != 1:
        return oauth_error(
            "invalid_scope",
            "AADSTS1002012: The provided value for scope "
            "is not valid. Client credential flows must have a scope value "
            "with /.default suffixed to the resource identifier.",
        )
    resource = resources.pop()
    # Application permissions only once a tenant admin granted them (identity_app.py).
    roles = roles_for(tenant, client_id) if resource == ids.GRAPH_RESOURCE else []
    app_state().count("granted" if roles else "no_roles")
    token_value, lifetime = ids.app_access_token(
        ids.state(), base_url(), tenant, client_id, resource, roles
    )
    return jsonify(
        {
            "token_type": "Bearer",
            "expires_in": lifetime,
            "ext_expires_in": lifetime,
            "access_token": token_value,
        }
    )


@bp.post("/<tenant>/oauth2/v2.0/token")
def token(tenant: str):
    if not known_tenant(tenant):
        return oauth_error("invalid_request", f"AADSTS90002: Tenant '{tenant}' not found.")
    client_id, secret = _client_credentials()
    client = clients().get(client_id)
    if client is None:
        return oauth_error(
            "unauthorized_client",
            f"AADSTS700016: Application with identifier '{client_id}' was not "
            "found in the directory.",
        )
    refused = _authenticate_client(tenant, client_id, client, secret)
    if refused is not None:
        return refused
    grant_type = request.form.get("grant_type", "")
    ids.state().count(grant_type)
    scopes = request.form.get("scope", "").split()
    if grant_type == "authorization_code":
        return _authorization_code_grant(client_id, scopes)
    if grant_type == "refresh_token":
        return _refresh_token_grant(client_id, scopes)
    if grant_type == "client_credentials":
        return _client_credentials_grant(tenant, client_id, scopes)
    return oauth_error(
        "unsupported_grant_type",
        f"AADSTS70003: The app requested an unsupported grant type '{grant_type}'.",
    )
