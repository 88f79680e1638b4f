"""The sandbox's Microsoft identity platform endpoints (v2.0), the ones MSAL for Python uses.

  GET  /<tenant>/v2.0/.well-known/openid-configuration   tenant: GUID, organizations or common
  GET  /<tenant>/discovery/v2.0/keys                      JWKS
  GET  /<tenant>/oauth2/v2.0/authorize                    pick a demo user and consent
  POST /<tenant>/oauth2/v2.0/token                        authorization_code (PKCE),
                                                          refresh_token, client_credentials
Switches for tests and demos (JSON, in identity_switches.py):
  POST /_sandbox/identity/expire-access-tokens            void every access token issued so far
  POST /_sandbox/identity/revoke-grant {tenant_id, object_id}   refresh tokens stop working
  POST /_sandbox/identity/settings {access_token_lifetime}
  POST /_sandbox/identity/rotate-keys                     new signing key (old one still published)
  POST /_sandbox/identity/mint {claims, headers}          sign arbitrary claims (negative tests)
  GET  /_sandbox/identity/stats                           token grants served, by grant type
"""

from __future__ import annotations

import re
import secrets
import time
from urllib.parse import urlencode, urlparse

from flask import Blueprint, current_app, jsonify, redirect, render_template, request

from . import identity_state as ids
from .directory import DEMO_USERS, users_of

bp = Blueprint("sandbox_identity", __name__)
init_state = ids.init_state

GUID = re.compile(r"^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$", re.I)
TENANT_ALIASES = ("organizations", "common")
AUTHORIZE_PARAMS = (
    "client_id",
    "response_type",
    "redirect_uri",
    "scope",
    "state",
    "nonce",
    "code_challenge",
    "code_challenge_method",
    "response_mode",
    "prompt",
    "login_hint",
)


def _base_url() -> str:
    return request.host_url.rstrip("/")


def _oauth_error(error: str, description: str, status: int = 400):
    code = re.match(r"AADSTS(\d+)", description)
    body = {
        "error": error,
        "error_description": description,
        "error_codes": [int(code.group(1))] if code else [],
        "timestamp": time.strftime("%Y-%m-%d %H:%M:%SZ", time.gmtime()),
        "trace_id": secrets.token_hex(8),
        "correlation_id": request.form.get("client-request-id") or secrets.token_hex(8),
    }
    return jsonify(body), status


def _known_tenant(tenant: str) -> bool:
    return tenant in TENANT_ALIASES or any(u.tenant_id == tenant for u in DEMO_USERS)


def _clients() -> dict[str, dict]:
    return current_app.config["SANDBOX_CLIENTS"]


def _api_audiences() -> set[str]:
    return {c["api_audience"] for c in _clients().values() if c.get("api_audience")}


def _redirect_allowed(uri: str) -> bool:
    parsed = urlparse(uri)
    if uri in current_app.config.get("SANDBOX_REDIRECT_URIS", ()):
        return True
    return parsed.scheme in ("http", "https") and parsed.hostname in (
        "localhost",
        "127.0.0.1",
        "::1",
    )


@bp.get("/<tenant>/v2.0/.well-known/openid-configuration")
def openid_configuration(tenant: str):
    if not _known_tenant(tenant):
        return _oauth_error("invalid_tenant", f"AADSTS90002: Tenant '{tenant}' not found.")
    base = _base_url()
    issuer_tenant = "{tenantid}" if tenant in TENANT_ALIASES else tenant
    return jsonify(
        {
            "issuer": ids.issuer_for(base, issuer_tenant),
            "authorization_endpoint": f"{base}/{tenant}/oauth2/v2.0/authorize",
            "token_endpoint": f"{base}/{tenant}/oauth2/v2.0/token",
            "jwks_uri": f"{base}/{tenant}/discovery/v2.0/keys",
            "end_session_endpoint": f"{base}/{tenant}/oauth2/v2.0/logout",
            "response_types_supported": ["code", "id_token", "code id_token", "id_token token"],
            "response_modes_supported": ["query", "fragment", "form_post"],
            "scopes_supported": ["openid", "profile", "email", "offline_access"],
            "subject_types_supported": ["pairwise"],
            "id_token_signing_alg_values_supported": ["RS256"],
            "token_endpoint_auth_methods_supported": ["client_secret_post", "client_secret_basic"],
            "code_challenge_methods_supported": ["S256", "plain"],
            "claims_supported": [
                "sub",
                "iss",
                "aud",
                "exp",
                "iat",
                "nbf",
                "name",
                "nonce",
                "oid",
                "tid",
                "preferred_username",
                "email",
                "ver",
            ],
            "tenant_region_scope": "EU",
        }
    )


@bp.get("/<tenant>/discovery/v2.0/keys")
def keys(tenant: str):
    return jsonify(ids.jwks(ids.state(), ids.issuer_for(_base_url(), "{tenantid}")))


def _authorize_params() -> dict[str, str]:
    source = request.form if request.method == "POST" else request.args
    return {k: source[k] for k in AUTHORIZE_PARAMS if source.get(k)}


def _redirect_with(redirect_uri: str, params: dict[str, str], response_mode: str | None):
    if response_mode == "form_post":
        return render_template("form_post.html", action=redirect_uri, fields=params)
    sep = "&" if "?" in redirect_uri else "?"
    return redirect(f"{redirect_uri}{sep}{urlencode(params)}", code=302)


@bp.route("/<tenant>/oauth2/v2.0/authorize", methods=["GET", "POST"])
def authorize(tenant: str):
    params = _authorize_params()
    client_id = params.get("client_id", "")
    redirect_uri = params.get("redirect_uri", "")
    if client_id not in _clients():
        return render_template(
            "authorize_error.html",
            message=f"AADSTS700016: Application '{client_id}' was not found.",
        ), 400
    if not redirect_uri or not _redirect_allowed(redirect_uri):
        return render_template(
            "authorize_error.html", message="AADSTS50011: The redirect URI does not match."
        ), 400
    mode = params.get("response_mode")
    back = {"state": params["state"]} if "state" in params else {}
    if params.get("response_type") != "code":
        return _redirect_with(redirect_uri, {**back, "error": "unsupported_response_type"}, mode)
    scopes = params.get("scope", "").split()
    try:
        ids.split_scopes(scopes, _api_audiences())
    except ValueError as exc:
        return _redirect_with(
            redirect_uri, {**back, "error": "invalid_scope", "error_description": str(exc)}, mode
        )
    if not _known_tenant(tenant):
        return render_template(
            "authorize_error.html", message=f"AADSTS90002: Tenant '{tenant}' not found."
        ), 400
    candidates = list(DEMO_USERS) if tenant in TENANT_ALIASES else users_of(tenant)

    if request.method == "GET":
        return render_template(
            "authorize.html",
            users=candidates,
            params=params,
            scopes=scopes,
            tenant=tenant,
            login_hint=params.get("login_hint", "").lower(),
        )
    if request.form.get("action") != "accept":
        return _redirect_with(
            redirect_uri,
            {
                **back,
                "error": "access_denied",
                "error_description": "AADSTS65004: User declined to consent to access the app.",
            },
            mode,
        )
    user = next((u for u in candidates if u.object_id == request.form.get("oid")), None)
    if user is None:
        return render_template(
            "authorize_error.html", message="AADSTS50034: The user account does not exist."
        ), 400
    st = ids.state()
    code = secrets.token_urlsafe(32)
    with st.lock:
        st.grants.setdefault(
            (user.tenant_id, user.object_id, client_id), ids.Grant(user=user, client_id=client_id)
        )
        st.codes[code] = ids.AuthCode(
            client_id=client_id,
            redirect_uri=redirect_uri,
            user=user,
            scopes=scopes,
            nonce=params.get("nonce"),
            code_challenge=params.get("code_challenge"),
            code_challenge_method=params.get("code_challenge_method"),
            expires_at=time.time() + ids.CODE_LIFETIME,
        )
    return _redirect_with(redirect_uri, {"code": code, **back}, mode)


def _client_credentials() -> tuple[str, str]:
    if request.authorization and request.authorization.type == "basic":
        return request.authorization.username or "", request.authorization.password or ""
    return request.form.get("client_id", ""), request.form.get("client_secret", "")


def _token_response(user, client_id: str, scopes: list[str], nonce: str | None, grant):
    st = ids.state()
    try:
        resource, permissions = ids.split_scopes(scopes, _api_audiences())
    except ValueError as exc:
        return _oauth_error("invalid_scope", str(exc))
    token, lifetime = ids.access_token(st, _base_url(), user, client_id, resource, permissions)
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
        body["id_token"] = ids.id_token(st, _base_url(), user, client_id, nonce)
    if "offline_access" in scopes:
        refresh = secrets.token_urlsafe(48)
        with st.lock:
            st.refresh_tokens[refresh] = grant
        body["refresh_token"] = refresh
    if request.form.get("client_info") == "1":
        body["client_info"] = ids.client_info(user)
    return jsonify(body)


@bp.post("/<tenant>/oauth2/v2.0/token")
def token(tenant: str):
    if not _known_tenant(tenant):
        return _oauth_error("invalid_request", f"AADSTS90002: Tenant '{tenant}' not found.")
    client_id, secret = _client_credentials()
    client = _clients().get(client_id)
    if client is None:
        return _oauth_error(
            "unauthorized_client",
            f"AADSTS700016: Application with identifier '{client_id}' was not "
            "found in the directory.",
        )
    if not secrets.compare_digest(secret, client["secret"]):
        return _oauth_error("invalid_client", "AADSTS7000215: Invalid client secret provided.", 401)
    grant_type = request.form.get("grant_type", "")
    st = ids.state()
    st.count(grant_type)
    scopes = request.form.get("scope", "").split()

    if grant_type == "authorization_code":
        with st.lock:
            code = st.codes.pop(request.form.get("code", ""), None)  # single use
        if code is None or code.expires_at < time.time() or code.client_id != client_id:
            return _oauth_error(
                "invalid_grant",
                "AADSTS70008: The provided authorization code "
                "or refresh token has expired or was already used.",
            )
        if code.redirect_uri != request.form.get("redirect_uri"):
            return _oauth_error(
                "invalid_grant",
                "AADSTS50148: The redirect_uri does not match "
                "the one used in the authorization request.",
            )
        if not ids.pkce_matches(
            request.form.get("code_verifier"), code.code_challenge, code.code_challenge_method
        ):
            return _oauth_error(
                "invalid_grant",
                "AADSTS501481: The Code_Verifier does not match the "
                "code_challenge supplied in the authorization request.",
            )
        grant = st.grants.get((code.user.tenant_id, code.user.object_id, client_id))
        if grant is None:
            return _oauth_error("invalid_grant", "AADSTS50173: The grant was revoked.")
        return _token_response(code.user, client_id, scopes or code.scopes, code.nonce, grant)

    if grant_type == "refresh_token":
        grant = st.refresh_tokens.get(request.form.get("refresh_token", ""))
        live = (
            grant is not None
            and st.grants.get((grant.user.tenant_id, grant.user.object_id, client_id)) is grant
        )
        if not live or grant.client_id != client_id:
            return _oauth_error(
                "invalid_grant",
                "AADSTS50173: The provided grant has expired due to it being "
                "revoked, a fresh auth token is needed.",
            )
        return _token_response(grant.user, client_id, scopes, None, grant)

    if grant_type == "client_credentials":
        if not GUID.match(tenant):
            return _oauth_error(
                "invalid_request",
                "AADSTS90009: Use a tenant-specific endpoint for the client credentials flow.",
            )
        resources = {s.rpartition("/")[0] for s in scopes if s.endswith("/.default")}
        if len(resources) != 1 or len(scopes) != 1:
            return _oauth_error(
                "invalid_scope",
                "AADSTS1002012: The provided value for scope "
                "is not valid. Client credential flows must have a scope value "
                "with /.default suffixed to the resource identifier.",
            )
        resource = resources.pop()
        token_value, lifetime = ids.app_access_token(st, _base_url(), tenant, client_id, resource)
        return jsonify(
            {
                "token_type": "Bearer",
                "expires_in": lifetime,
                "ext_expires_in": lifetime,
                "access_token": token_value,
            }
        )

    return _oauth_error(
        "unsupported_grant_type",
        f"AADSTS70003: The app requested an unsupported grant type '{grant_type}'.",
    )
