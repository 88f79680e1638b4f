"""The sandbox's Microsoft identity platform endpoints (v2.0), the ones MSAL for Python uses.

  GET  /<tenant>/v2.0/.well-known/openid-configuration   tenant: GUID, organizations or common
  GET  /<tenant>/discovery/v2.0/keys                      JWKS
  GET  /<tenant>/oauth2/v2.0/authorize                    pick a demo user and consent
The token endpoint is in identity_token.py; switches for tests and demos (JSON, in
identity_switches.py):
  POST /_sandbox/identity/expire-access-tokens            void every access token issued so far
  POST /_sandbox/identity/revoke-grant {tenant_id, object_id}   refresh tokens stop working
  POST /_sandbox/identity/settings {access_token_lifetime}
  POST /_sandbox/identity/rotate-keys                     new signing key (old one still published)
  POST /_sandbox/identity/mint {claims, headers}          sign arbitrary claims (negative tests)
  GET  /_sandbox/identity/stats                           token grants served, by grant type
"""

from __future__ import annotations

import secrets
import time
from urllib.parse import urlencode, urlparse

from flask import Blueprint, current_app, jsonify, redirect, render_template, request

from . import identity_state as ids
from .directory import DEMO_USERS, users_of
from .identity_http import (
    TENANT_ALIASES,
    api_audiences,
    base_url,
    clients,
    known_tenant,
    oauth_error,
)

bp = Blueprint("sandbox_identity", __name__)
init_state = ids.init_state

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
    if not known_tenant(tenant):
        return oauth_error("invalid_tenant", f"AADSTS90002: Tenant '{tenant}' not found.")
    base = base_url()
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
            "token_endpoint_auth_methods_supported": [
                "client_secret_post",
                "private_key_jwt",
                "client_secret_basic",
            ],
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
    return jsonify(ids.jwks(ids.state(), ids.issuer_for(base_url(), "{tenantid}")))


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
    if client_id not in clients():
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
        ids.split_scopes(scopes, api_audiences())
    except ValueError as exc:
        return _redirect_with(
            redirect_uri, {**back, "error": "invalid_scope", "error_description": str(exc)}, mode
        )
    if not known_tenant(tenant):
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
