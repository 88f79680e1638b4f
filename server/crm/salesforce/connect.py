"""Connecting a user's Salesforce login: OAuth 2.0 web-server flow with PKCE.

The pane asks POST /api/crm/salesforce/connect ({"mode": "dialog"}) for a dialog URL on our own
origin (Office dialogs must start there), which redirects to Salesforce's authorize page; the
callback then renders the sign-in bridge page that messages the pane. The start page can link
to GET /crm/salesforce/connect. Either way the state and PKCE verifier
are kept server-side in Redis (ten minutes, single use) bound to the Courier user, and
/crm/salesforce/callback exchanges the code and stores the encrypted tokens.

The flow is also bound to the browser that walks it: the dialog's first page (or the web
connect page) requires that browser's Courier session to be the user who started the flow,
and puts the state in a signed cookie of its own; the callback accepts only a state that
the same browser's cookie carries. So a shared dialog (or authorize) link cannot connect the
recipient's Salesforce to the sharer's Courier account (RFC 6749 §10.12: bind the state to
the user-agent's authenticated state; https://datatracker.ietf.org/doc/html/rfc6749#section-10.12).
"""

from __future__ import annotations

import json
import re
import secrets
from urllib.parse import urlencode

from flask import (
    Blueprint,
    current_app,
    g,
    jsonify,
    redirect,
    render_template,
    render_template_string,
    request,
    session,
)
from itsdangerous import BadSignature
from sqlalchemy import select

from ...auth.decorators import COOKIE_TOKEN_KEY, api_login_required, login_required
from ...auth.sessions import user_for_session
from ...db import get_session
from ...errors import ApiError
from ...models.crm_connections import SalesforceConnection
from ...models.tenancy import User
from ...queues import get_redis
from ..base import CRMError
from .tokens import (
    OAuthSettings,
    exchange_code,
    pkce_pair,
    revoke_and_delete,
    store_connection,
    username_of,
)

bp = Blueprint("salesforce_connect", __name__)
PENDING_SECONDS = 600
_PENDING_KEY = "courier:sf:oauth:{}"
# The pane opens the dialog in the user's click, before any server call (a window opened after
# a round trip is blocked by browsers: Office error 12011, docs-pr
# develop/dialog-handle-errors-events.md), on our start page named by a ticket it made; its
# authenticated POST then binds the ticket to a pending connection.
_TICKET_KEY = "courier:sf:ticket:{}"
TICKET_RE = re.compile(r"^[A-Za-z0-9_-]{32,128}$")
TICKET_WAIT_ATTEMPTS = 15  # the start page looks again every second, this many times
_WAIT_PAGE = """<!doctype html><html lang="en"><head><meta charset="utf-8">
<meta http-equiv="refresh" content="1;url={{ again }}">
<title>Salesforce</title></head><body><main>
<h1>Opening Salesforce…</h1><p>One moment.</p>
</main></body></html>"""
# The flow's state, signed, in a cookie of its own (path /crm/salesforce): Flask's session
# cookie is rewritten whole by any concurrent response (last writer wins), which could drop it.
STATE_COOKIE = "courier_sf_connect"
_DONE_PAGE = """<!doctype html><html lang="en"><head><meta charset="utf-8">
<title>Salesforce</title></head><body><main>
<h1>{{ title }}</h1><p>{{ message }}</p><p>You can close this window.</p>
</main></body></html>"""


def redirect_uri() -> str:
    return current_app.config["BASE_URL"].rstrip("/") + "/crm/salesforce/callback"


def _start(user: User, mode: str) -> tuple[str, str]:
    """(state, authorize URL) of a new pending connection in `mode` ("web" or "dialog")."""
    oauth = OAuthSettings.from_config()
    verifier, challenge = pkce_pair()
    state = secrets.token_urlsafe(32)
    query = urlencode(
        {
            "response_type": "code",
            "client_id": oauth.client_id,
            "redirect_uri": redirect_uri(),
            "scope": " ".join(current_app.config["SALESFORCE_SCOPES"]),
            "state": state,
            "code_challenge": challenge,
            "code_challenge_method": "S256",
            "login_hint": user.email,
            "prompt": "login consent",
        }
    )
    url = f"{oauth.login_url}/services/oauth2/authorize?{query}"
    pending = {"user_id": user.id, "verifier": verifier, "mode": mode, "authorize_url": url}
    get_redis().set(_PENDING_KEY.format(state), json.dumps(pending), ex=PENDING_SECONDS)
    return state, url


@bp.post("/api/crm/salesforce/connect")
@api_login_required
def connect_api():
    body = request.get_json(silent=True) or {}
    mode = "dialog" if body.get("mode") == "dialog" else "web"
    ticket = body.get("ticket")
    if ticket is not None and (not isinstance(ticket, str) or not TICKET_RE.match(ticket)):
        raise ApiError(400, "invalid_ticket", "ticket must be 32-128 letters, digits, - or _.")
    state, url = _start(g.user, mode)
    if ticket is not None and not get_redis().set(
        _TICKET_KEY.format(ticket), state, ex=PENDING_SECONDS, nx=True
    ):
        raise ApiError(409, "ticket_in_use", "This ticket is already in use; make a new one.")
    base = current_app.config["BASE_URL"].rstrip("/")
    return jsonify(
        {
            "authorize_url": url,
            "dialog_url": f"{base}/crm/salesforce/dialog?{urlencode({'state': state})}",
        }
    )


@bp.get("/crm/salesforce/dialog")
@login_required
def dialog_start():
    """The Office dialog's first page (on our origin): on to the pending authorize URL. Only a
    URL we built and stored is followed, so this is no open redirect. Named by a ticket, it
    waits (a refresh a second) until the pane's POST has bound the ticket. The browser must be
    signed in to Courier as the user who started the flow (else signing in comes first)."""
    ticket = request.args.get("ticket", "")
    state = request.args.get("state", "")
    mode = "web"
    if ticket:
        mode = "dialog"
        bound = get_redis().getdel(_TICKET_KEY.format(ticket)) if TICKET_RE.match(ticket) else None
        if bound is None:
            return _wait_for_ticket(ticket)
        state = bound.decode() if isinstance(bound, bytes) else str(bound)
    raw = get_redis().get(_PENDING_KEY.format(state)) if state else None
    if raw is None:
        return _page(
            "Connection failed", "This link expired or was already used. Try again.", 400, mode
        )
    pending = json.loads(raw)
    if pending["user_id"] != g.user.id:
        return _page(
            "Connection failed",
            "This link was started by someone else. Connect Salesforce from your own pane.",
            403,
            mode,
        )
    return _bound_redirect(pending["authorize_url"], state)


def _wait_for_ticket(ticket: str):
    try:
        attempt = int(request.args.get("attempt", "0"))
    except ValueError:
        attempt = TICKET_WAIT_ATTEMPTS
    if not TICKET_RE.match(ticket) or attempt >= TICKET_WAIT_ATTEMPTS:
        return _page(
            "Connection failed", "Courier could not start the connection. Try again.", 400, "dialog"
        )
    again = f"{request.path}?{urlencode({'ticket': ticket, 'attempt': attempt + 1})}"
    response = current_app.make_response(render_template_string(_WAIT_PAGE, again=again))
    response.headers["Cache-Control"] = "no-store"
    return response


@bp.get("/crm/salesforce/connect")
@login_required
def connect_page():
    state, url = _start(g.user, "web")
    return _bound_redirect(url, state)


def _signer():
    return current_app.session_interface.get_signing_serializer(current_app)


def _bound_redirect(url: str, state: str):
    """Redirect to Salesforce, leaving the signed state (and its user) in this browser."""
    response = redirect(url)
    response.set_cookie(
        STATE_COOKIE,
        _signer().dumps({"state": state, "user_id": g.user.id}),
        max_age=PENDING_SECONDS,
        path="/crm/salesforce",
        secure=request.is_secure,
        httponly=True,
        samesite="Lax",  # sent on Salesforce's top-level redirect back to the callback
    )
    return response


def _started_in_this_browser(state: str, user_id: int) -> bool:
    """The callback's state is the one this browser's cookie carries, for the same user, who
    is still signed in to Courier here."""
    try:
        bound = _signer().loads(request.cookies.get(STATE_COOKIE, ""), max_age=PENDING_SECONDS)
    except BadSignature:
        return False
    if not isinstance(bound, dict) or bound.get("user_id") != user_id:
        return False
    if not secrets.compare_digest(state, str(bound.get("state", ""))):
        return False
    user = user_for_session(session.get(COOKIE_TOKEN_KEY, ""))
    return user is not None and user.id == user_id


def _page(title: str, message: str, status: int = 200, mode: str = "web"):
    if mode == "dialog":
        # The sign-in bridge page hands the outcome to the pane. It answers 200 either way:
        # the page did its job (delivering the outcome), and the failure is in the message.
        outcome = {"type": "courier-crm", "crm": "salesforce", "connected": status == 200}
        if status != 200:
            outcome["message"] = message
        page = render_template(
            "auth/crm_bridge.html", title=title, text=message, message=json.dumps(outcome)
        )
        return page, 200
    return render_template_string(_DONE_PAGE, title=title, message=message), status


@bp.get("/crm/salesforce/callback")
def callback():
    state = request.args.get("state", "")
    raw = get_redis().getdel(_PENDING_KEY.format(state)) if state else None
    if raw is None:
        return _page(
            "Connection failed", "This sign-in link expired or was already used. Try again.", 400
        )
    pending = json.loads(raw)
    mode = pending.get("mode", "web")
    if not _started_in_this_browser(state, pending["user_id"]):
        return _page(
            "Connection failed",
            "This sign-in was started in another browser. Connect Salesforce from your pane.",
            403,
            mode,
        )
    if request.args.get("error"):
        return _page("Not connected", "Salesforce did not grant access.", 400, mode)
    user = get_session().get(User, pending["user_id"])
    if user is None:
        return _page("Connection failed", "Your Courier account no longer exists.", 400, mode)
    try:
        tokens = exchange_code(
            request.args.get("code", ""),
            pending["verifier"],
            redirect_uri(),
            OAuthSettings.from_config(),
        )
        store_connection(user, tokens, username_of(tokens))
    except CRMError as exc:
        current_app.logger.warning("Salesforce connection failed: %s", type(exc).__name__)
        return _page(
            "Connection failed", "Salesforce refused the connection. Try again.", 400, mode
        )
    return _page("Salesforce connected", "Courier now saves to your Salesforce as you.", mode=mode)


@bp.get("/api/crm/salesforce/status")
@api_login_required
def status():
    return jsonify(connection_status(g.user))


@bp.post("/api/crm/salesforce/disconnect")
@api_login_required
def disconnect():
    if not revoke_and_delete(g.user, OAuthSettings.from_config()):
        raise ApiError(404, "not_connected", "Salesforce is not connected.")
    return jsonify({"connected": False})


def connection_status(user: User) -> dict:
    """For the pane and health: connected, needs re-auth, and whether writes are paused."""
    from .budget_store import org_budget_status

    conn = get_session().scalar(
        select(SalesforceConnection).where(SalesforceConnection.user_id == user.id)
    )
    if conn is None:
        return {"connected": False, "needs_reauth": False}
    return {
        "connected": True,
        "needs_reauth": conn.needs_reauth,
        "username": conn.sf_username,
        "instance_url": conn.instance_url,
        "budget": org_budget_status(user.org_id, conn.sf_org_id),
    }
