"""The sandbox Salesforce's OAuth 2.0 web-server flow (authorization code + PKCE, refresh).

Served under the login host (/salesforce/services/oauth2/...) like login.salesforce.com; the
token endpoint also answers on the instance (/services/oauth2/token) as Salesforce does.
"""

from __future__ import annotations

import base64
import hashlib
import secrets
import time
from typing import Any
from urllib.parse import urlencode

from flask import current_app, jsonify, render_template_string, request

from .salesforce_store import SalesforceState

CODE_SECONDS = 600
_PAGE = """<!doctype html><html lang="en"><head><meta charset="utf-8">
<title>Log in | Salesforce (sandbox)</title></head><body>
<main><h1>Allow access?</h1>
<p>Courier is asking to access your Salesforce data as you.</p>
<form method="post">
{% for name, value in hidden.items() %}
<input type="hidden" name="{{ name }}" value="{{ value }}">{% endfor %}
<label>Username <select name="username" id="username">
{% for user in users %}
<option value="{{ user }}" {% if user == hint %}selected{% endif %}>{{ user }}</option>
{% endfor %}
</select></label>
<button type="submit" name="decision" value="allow" id="allow">Allow</button>
<button type="submit" name="decision" value="deny" id="deny">Deny</button>
</form></main></body></html>"""


def _state() -> SalesforceState:
    return current_app.extensions["sandbox_salesforce"]


def _oauth_error(code: str, description: str, status: int = 400):
    return jsonify({"error": code, "error_description": description}), status


def _client_ok(client_id: str, client_secret: str | None) -> bool:
    expected_id = current_app.config.get("SALESFORCE_CLIENT_ID", "courier-dev-sf-client")
    expected_secret = current_app.config.get("SALESFORCE_CLIENT_SECRET", "courier-dev-sf-secret")
    if client_id != expected_id:
        return False
    return client_secret is None or secrets.compare_digest(client_secret, expected_secret)


def authorize():
    args = request.values
    if args.get("response_type") != "code":
        return _oauth_error("unsupported_response_type", "response type not supported")
    if not _client_ok(args.get("client_id", ""), None):
        return _oauth_error("invalid_client_id", "client identifier invalid")
    redirect_uri = args.get("redirect_uri", "")
    if not redirect_uri:
        return _oauth_error("redirect_uri_mismatch", "redirect_uri must match configuration")
    if request.method == "GET":
        users = sorted(u["Username"] for o in _state().orgs.values() for u in o.users.values())
        hidden = {
            k: args[k]
            for k in (
                "response_type",
                "client_id",
                "redirect_uri",
                "state",
                "scope",
                "code_challenge",
                "code_challenge_method",
            )
            if k in args
        }
        return render_template_string(
            _PAGE, users=users, hint=args.get("login_hint", ""), hidden=hidden
        )
    state_param = {"state": args["state"]} if args.get("state") else {}
    if args.get("decision") != "allow":
        query = urlencode(
            {
                "error": "access_denied",
                "error_description": "end-user denied authorization",
                **state_param,
            }
        )
        return "", 302, {"Location": f"{redirect_uri}?{query}"}
    with _state().lock:
        found = _state().user_by_username(args.get("username", ""))
        if found is None:
            return _oauth_error("invalid_grant", "authentication failure")
        org, user = found
        code = "aPrx" + secrets.token_urlsafe(24)
        _state().codes[code] = {
            "org_id": org.org_id,
            "user_id": user["Id"],
            "username": user["Username"],
            "client_id": args["client_id"],
            "redirect_uri": redirect_uri,
            "challenge": args.get("code_challenge", ""),
            "method": args.get("code_challenge_method", "S256"),
            "expires_at": time.time() + CODE_SECONDS,
        }
    query = urlencode({"code": code, **state_param})
    return "", 302, {"Location": f"{redirect_uri}?{query}"}


def _pkce_ok(challenge: str, method: str, verifier: str) -> bool:
    if not challenge:
        return True
    if not verifier:
        return False
    if method == "plain":
        return secrets.compare_digest(challenge, verifier)
    digest = (
        base64.urlsafe_b64encode(hashlib.sha256(verifier.encode()).digest()).rstrip(b"=").decode()
    )
    return secrets.compare_digest(challenge, digest)


def issue_grant(
    org_id: str, user_id: str, username: str, with_refresh: bool = True
) -> dict[str, Any]:
    """Tokens for a user (also used by the control endpoint that arranges test connections)."""
    state = _state()
    access = f"{org_id[:15]}!AQ" + secrets.token_urlsafe(32)
    grant = {
        "org_id": org_id,
        "user_id": user_id,
        "username": username,
        "expires_at": time.time() + state.access_token_seconds,
    }
    state.access_tokens[access] = grant
    instance = request.host_url.rstrip("/")
    login = f"{instance}/salesforce"
    body = {
        "access_token": access,
        "signature": secrets.token_urlsafe(16),
        "scope": "api refresh_token",
        "instance_url": instance,
        "id": f"{login}/id/{org_id}/{user_id}",
        "token_type": "Bearer",
        "issued_at": str(int(time.time() * 1000)),
    }
    if with_refresh:
        refresh = "5Aep" + secrets.token_urlsafe(40)
        state.refresh_tokens[refresh] = {"org_id": org_id, "user_id": user_id, "username": username}
        body["refresh_token"] = refresh
    return body


def token():
    form = request.form
    if not _client_ok(form.get("client_id", ""), form.get("client_secret", "")):
        return _oauth_error("invalid_client", "invalid client credentials")
    state = _state()
    with state.lock:
        grant_type = form.get("grant_type", "")
        state.token_requests[grant_type] = state.token_requests.get(grant_type, 0) + 1
        if form.get("grant_type") == "authorization_code":
            code = state.codes.pop(form.get("code", ""), None)
            if code is None or code["expires_at"] < time.time():
                return _oauth_error("invalid_grant", "invalid authorization code")
            if code["redirect_uri"] != form.get("redirect_uri") or code["client_id"] != form.get(
                "client_id"
            ):
                return _oauth_error("invalid_grant", "redirect_uri mismatch")
            if not _pkce_ok(code["challenge"], code["method"], form.get("code_verifier", "")):
                return _oauth_error("invalid_grant", "invalid code verifier")
            return jsonify(issue_grant(code["org_id"], code["user_id"], code["username"]))
        if form.get("grant_type") == "refresh_token":
            # With refresh token rotation on (a connected app setting), "the connected app
            # issues a new refresh token along with the access token each time the flow is
            # invoked. The previous refresh token is automatically invalidated."
            # https://help.salesforce.com/s/articleView?id=xcloud.remoteaccess_oauth_refresh_token_flow.htm
            rotate = state.rotate_refresh_tokens
            token_value = form.get("refresh_token", "")
            grant = (state.refresh_tokens.pop if rotate else state.refresh_tokens.get)(
                token_value, None
            )
            if grant is None:
                return _oauth_error("invalid_grant", "expired access/refresh token")
            return jsonify(
                issue_grant(
                    grant["org_id"], grant["user_id"], grant["username"], with_refresh=rotate
                )
            )
    return _oauth_error("unsupported_grant_type", "grant type not supported")


def revoke():
    token_value = request.values.get("token", "")
    state = _state()
    with state.lock:
        grant = state.refresh_tokens.pop(token_value, None) or state.access_tokens.pop(
            token_value, None
        )
        if grant is None:
            return _oauth_error("unsupported_token_type", "this token type is not supported")
        state.revoke_grants(grant["username"])
    return "", 200
