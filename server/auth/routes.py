"""Sign-in with Microsoft (MSAL auth-code flow with PKCE and state), the Office dialog bridge,
the one-time-code exchange for a session token, sign-out, and GET /api/me.

Flow: /auth/signin (start) stores MSAL's flow in Redis under its `state` and binds it to this
browser (state in the signed session cookie) → Microsoft → /auth/callback redeems the code,
applies the identity rules, stores the encrypted token cache, then either redirects (web) or
renders the bridge page (dialog) that hands a one-time code to the task pane with
Office.context.ui.messageParent. The pane POSTs it to /auth/api/exchange for a session token.
The redirect uses response_mode=query: a form_post callback is a cross-site POST, which
SameSite=Lax session cookies (holding the state binding) do not accompany.
"""

from __future__ import annotations

import hashlib
import json
import logging
import secrets
import warnings

import msal
import requests
from flask import (
    Blueprint,
    current_app,
    g,
    jsonify,
    redirect,
    render_template,
    request,
    session,
    url_for,
)

from ..db import get_session
from ..errors import ApiError
from ..models.connections import MicrosoftConnection
from ..models.tenancy import User
from ..queues import get_redis
from ..ratelimit import signin_limits
from .decorators import COOKIE_TOKEN_KEY, api_login_required, bearer_token
from .identity import sign_in_identity
from .msal_client import GRAPH_SCOPES, build_msal_app
from .safe_next import safe_next
from .sessions import (
    is_session_token,
    issue_session,
    revoke_session,
    revoke_user_sessions,
    session_expiry,
    user_for_session,
)
from .tokens import disconnect, store_connection

log = logging.getLogger(__name__)
bp = Blueprint("auth", __name__, url_prefix="/auth")
me_bp = Blueprint("auth_me", __name__)

FLOW_TTL_SECONDS = 600
ONE_TIME_CODE_TTL_SECONDS = 120
_FLOW_KEY = "courier:signin:flow:{}"
_CODE_KEY = "courier:signin:code:{}"


def _redirect_uri() -> str:
    return f"{current_app.config['BASE_URL'].rstrip('/')}{url_for('auth.callback')}"


def _error_page(message: str, status: int):
    return render_template("auth/error.html", message=message), status


def user_json(user: User) -> dict:
    connection = get_session().query(MicrosoftConnection).filter_by(user_id=user.id).first()
    return {
        "id": user.id,
        "email": user.email,
        "display_name": user.display_name,
        "aliases": list(user.aliases or []),
        "role": user.role,
        "organisation": {
            "id": user.org_id,
            "tenant_id": user.tenant_id,
            "name": user.organisation.name,
        },
        "microsoft": {
            "connected": connection is not None,
            "needs_reauth": bool(connection and connection.needs_reauth),
        },
    }


@bp.get("/signin")
@signin_limits("signin_start")
def signin_start():
    mode = "dialog" if request.args.get("mode") == "dialog" else "web"
    try:
        msal_app = build_msal_app()
    except (requests.RequestException, ValueError) as exc:  # discovery failed
        log.warning("identity platform unreachable at sign-in: %s", type(exc).__name__)
        return _error_page("Microsoft sign-in is unreachable right now. Try again shortly.", 503)
    with warnings.catch_warnings():
        # MSAL recommends form_post; we use query on purpose (see the module docstring).
        warnings.filterwarnings("ignore", message="response_mode='form_post'")
        flow = msal_app.initiate_auth_code_flow(
            GRAPH_SCOPES,
            redirect_uri=_redirect_uri(),
            prompt="select_account",
            login_hint=request.args.get("login_hint") or None,
            response_mode="query",
        )
    record = {"flow": flow, "mode": mode, "next": safe_next(request.args.get("next"))}
    get_redis().set(_FLOW_KEY.format(flow["state"]), json.dumps(record), ex=FLOW_TTL_SECONDS)
    session["signin_state"] = flow["state"]
    return redirect(flow["auth_uri"], code=302)


@bp.get("/callback")
@signin_limits("signin_callback")
def callback():
    state = request.args.get("state", "")
    expected = str(session.get("signin_state", ""))
    # Bytes: compare_digest refuses str with non-ASCII characters (TypeError, a 500).
    if not state or not secrets.compare_digest(state.encode(), expected.encode()):
        return _error_page("This sign-in was started elsewhere or has expired. Start again.", 400)
    raw = get_redis().getdel(_FLOW_KEY.format(state))
    session.pop("signin_state", None)
    if raw is None:
        return _error_page("This sign-in has expired. Start again.", 400)
    record = json.loads(raw)
    if "error" in request.args:
        log.info("sign-in refused by the identity platform: %s", request.args["error"])
        return _error_page("Sign-in was cancelled or refused by Microsoft.", 400)
    cache = msal.SerializableTokenCache()
    try:
        app = build_msal_app(cache)
        result = app.acquire_token_by_auth_code_flow(record["flow"], request.args.to_dict())
    except ValueError:  # state or nonce mismatch (MSAL checks both)
        return _error_page("The sign-in response did not match the request. Start again.", 400)
    except requests.RequestException as exc:
        log.warning("identity platform unreachable at callback: %s", type(exc).__name__)
        return _error_page("Microsoft sign-in is unreachable right now. Try again shortly.", 503)
    if "error" in result:
        log.info("code redemption failed: %s", result.get("error"))
        return _error_page("Microsoft did not complete the sign-in. Start again.", 400)
    claims = result.get("id_token_claims") or {}
    try:
        user = sign_in_identity(claims)
    except ApiError as exc:
        return _error_page(exc.message, exc.status)
    accounts = app.get_accounts()
    home_account_id = next(
        (a["home_account_id"] for a in accounts if a.get("local_account_id") == user.object_id),
        f"{user.object_id}.{user.tenant_id}",
    )
    store_connection(user, cache, home_account_id, GRAPH_SCOPES)
    previous = session.get(COOKIE_TOKEN_KEY)
    if previous:
        revoke_session(previous)  # signing in again (maybe as someone else) ends the old one
    session[COOKIE_TOKEN_KEY] = issue_session(user)
    next_path = safe_next(record.get("next"))  # again: a flow stored by an older release
    if record["mode"] == "web" and next_path:
        return redirect(next_path, code=302)
    code = ""
    if record["mode"] == "dialog":
        code = secrets.token_urlsafe(32)
        get_redis().set(
            _CODE_KEY.format(hashlib.sha256(code.encode()).hexdigest()),
            str(user.id),
            ex=ONE_TIME_CODE_TTL_SECONDS,
        )
    return render_template("auth/bridge.html", user=user, code=code, next=next_path or "/")


@bp.post("/api/exchange")
@signin_limits("signin_exchange")
def exchange():
    body = request.get_json(silent=True) or {}
    code = body.get("code")
    if not isinstance(code, str) or not code:
        raise ApiError(400, "invalid_request", 'Send {"code": "..."} from the sign-in dialog.')
    user_id = get_redis().getdel(_CODE_KEY.format(hashlib.sha256(code.encode()).hexdigest()))
    if user_id is None:
        raise ApiError(400, "invalid_code", "This sign-in code was already used or has expired.")
    user = get_session().get(User, int(user_id))
    if user is None:
        raise ApiError(400, "invalid_code", "This sign-in code no longer matches a user.")
    token = issue_session(user)
    return jsonify(
        {
            "token": token,
            "token_type": "Bearer",
            "expires_at": session_expiry(token).isoformat(),
            "user": user_json(user),
        }
    )


@bp.post("/api/signout")
@api_login_required
def api_signout():
    token = bearer_token() or ""
    revoked = revoke_session(token) if is_session_token(token) else False
    return jsonify({"signed_out": True, "revoked": revoked})


@bp.post("/api/disconnect")
@api_login_required
def api_disconnect():
    """The user disconnects Microsoft: tokens forgotten, every session of theirs ended."""
    disconnected = disconnect(g.user)
    revoke_user_sessions(g.user.id)
    return jsonify({"disconnected": disconnected})


@bp.post("/signout")
def signout():
    token = session.pop(COOKIE_TOKEN_KEY, None)
    if token:
        revoke_session(token)
    return redirect(url_for("pages.home") if "pages.home" in current_app.view_functions else "/")


def signed_in_user() -> User | None:
    """The browser's signed-in user (live session cookie), for page templates."""
    token = session.get(COOKIE_TOKEN_KEY)
    return user_for_session(token) if token else None


@bp.app_context_processor
def _template_helpers() -> dict:
    return {"signed_in_user": signed_in_user}


@me_bp.get("/api/me")
@api_login_required
def me():
    return jsonify(user_json(g.user))
