"""The sandbox's Microsoft Graph: users, mail folders, message and calendarView delta, with
Graph's documented shapes (@odata.nextLink/@odata.deltaLink, error bodies, Retry-After).

Fault switches apply per request (429, 503, connection reset, slow). Controls live under
/_sandbox/graph (graph_controls.py); subscriptions and notifications in graph_webhooks.py.
"""

from __future__ import annotations

import functools
import json
import socket
import struct
import time

import jwt
from flask import Blueprint, Response, g, request

from . import graph_state
from .directory import DirectoryUser
from .graph_app_access import app_refusal, is_app_token
from .graph_state import Mailbox, state
from .identity_state import verify_access_token
from .mailbox import BAD_BYTES_MARK

api = Blueprint("sandbox_graph_api", __name__)
bp = Blueprint("sandbox_graph", __name__)

DEFAULT_PAGE_SIZE = 10  # Graph's delta default without Prefer: odata.maxpagesize
MAX_PAGE_SIZE = 1000
FOLDER_NAMES = {
    "inbox": "Inbox",
    "sentitems": "Sent Items",
    "junkemail": "Junk Email",
    "drafts": "Drafts",
    "deleteditems": "Deleted Items",
    "archive": "Archive",
    "clients": "Clients",
}


def graph_error(status: int, code: str, message: str, headers: dict | None = None) -> Response:
    body = {
        "error": {
            "code": code,
            "message": message,
            "innerError": {
                "date": time.strftime("%Y-%m-%dT%H:%M:%S"),
                "request-id": getattr(g, "request_id", ""),
            },
        }
    }
    return Response(json.dumps(body), status, headers=headers or {}, mimetype="application/json")


def json_response(body: dict) -> Response:
    text = json.dumps(body, ensure_ascii=False, separators=(",", ":")).encode("utf-8")
    if BAD_BYTES_MARK.encode() in text:
        text = text.replace(BAD_BYTES_MARK.encode(), b"\xff\xfe")  # non-UTF-8, on purpose
    return Response(text, 200, mimetype="application/json")


def _reset_connection() -> None:
    sock = request.environ.get("werkzeug.socket")
    if sock is None:
        return
    try:
        # Linger 0 turns the close into a TCP reset; shutdown acts on the descriptor at once
        # (the server still holds other references to this socket).
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
        sock.shutdown(socket.SHUT_RDWR)
    except OSError:
        pass


@api.before_request
def _faults_and_auth():
    st = state()
    st.enter()
    g.graph_in_flight = st
    g.request_id = f"sbx-{st.requests + 1}"
    st.count(request.endpoint.rsplit(".", 1)[-1] if request.endpoint else "unknown")
    if st.faults.invalidate_after and st.requests == st.faults.invalidate_after:
        with st.lock:
            for box in st.mailboxes.values():
                box.epoch += 1
    fault = st.fault()
    if fault:
        st.note(f"fault_{fault}")
    if fault == "reset":
        _reset_connection()
        return Response(b"", 500)
    if fault == "throttle":
        return graph_error(
            429,
            "TooManyRequests",
            "Application is over its MailboxConcurrency limit.",
            {"Retry-After": st.faults.retry_after},
        )
    if fault == "unavailable":
        return graph_error(
            503,
            "ServiceUnavailable",
            "Service unavailable.",
            {"Retry-After": st.faults.retry_after},
        )
    if fault == "slow":
        time.sleep(st.faults.slow_ms / 1000)
    header = request.headers.get("Authorization", "")
    if not header.startswith("Bearer "):
        return graph_error(401, "InvalidAuthenticationToken", "Access token is empty.")
    try:
        g.claims = verify_access_token(header[7:].strip())
    except jwt.InvalidTokenError as exc:
        return graph_error(
            401,
            "InvalidAuthenticationToken",
            f"Access token validation failure: {type(exc).__name__}.",
        )
    return None


@api.teardown_request
def _left(_exc) -> None:
    st = g.pop("graph_in_flight", None)
    if st is not None:
        st.leave()


def target_user(user_id: str, resource: str | None = None) -> DirectoryUser | Response:
    """The user a request reads, or Graph's refusal. A delegated token reads only its own
    user; an app-only token any user of its tenant, as its roles and the tenant's access
    policy allow (graph_app_access.py; `resource`: a subscription's)."""
    claims = g.claims
    app_only = is_app_token(claims)
    if user_id == "me" and app_only:
        # https://learn.microsoft.com/graph/api/user-get: /me needs a signed-in user.
        return graph_error(
            400, "BadRequest", "/me request is only valid with delegated authentication flow."
        )
    user = graph_state.user_by_id(claims.get("oid", "") if user_id == "me" else user_id)
    if user is None:
        return graph_error(404, "ErrorInvalidUser", f"The requested user '{user_id}' is invalid.")
    if claims.get("tid") != user.tenant_id:
        return graph_error(403, "ErrorAccessDenied", "Access is denied. Check credentials.")
    if app_only:
        refusal = app_refusal(claims, user, resource)
        return refusal if refusal is not None else user
    if claims.get("oid") != user.object_id:
        return graph_error(403, "ErrorAccessDenied", "Access is denied. Check credentials.")
    return user


def mailbox_get(path: str):
    """Register a read of one mailbox at GET /users/{id}<path> and /me<path> (Graph serves
    both); the view is called as view(user, box, **route args) once target_user allowed
    the read, and Graph's refusal is answered otherwise."""

    def register(view):
        @functools.wraps(view)
        def read(user_id: str, **args):
            user = target_user(user_id)
            if isinstance(user, Response):
                return user
            return view(user, state().mailbox(user), **args)

        api.get(f"/users/<user_id>{path}")(read)
        api.get(f"/me{path}", defaults={"user_id": "me"})(read)
        return read

    return register


def page_size() -> int:
    for part in request.headers.get("Prefer", "").split(","):
        name, _, value = part.strip().partition("=")
        if name.strip().lower() == "odata.maxpagesize":
            try:
                return max(1, min(MAX_PAGE_SIZE, int(value.strip().strip('"'))))
            except ValueError:
                return DEFAULT_PAGE_SIZE
    return DEFAULT_PAGE_SIZE


# List users (https://learn.microsoft.com/graph/api/user-list): delegated User.ReadBasic.All
# is the least privileged permission (User.Read.All, Directory.Read.All also work), application
# User.Read.All. Without one of them Graph answers 403 Authorization_RequestDenied
# "Insufficient privileges to complete the operation." Pages with $top (max 999) and an
# @odata.nextLink carrying $skiptoken.
LIST_USERS_DELEGATED = {"User.ReadBasic.All", "User.Read.All", "Directory.Read.All"}


@api.get("/users")
def list_users():
    claims = g.claims
    scopes = set(str(claims.get("scp", "")).split())
    if not (scopes & LIST_USERS_DELEGATED or "User.Read.All" in (claims.get("roles") or [])):
        return graph_error(
            403, "Authorization_RequestDenied", "Insufficient privileges to complete the operation."
        )
    people = graph_state.users_of_tenant(claims.get("tid", ""))
    try:
        top = max(1, min(999, int(request.args.get("$top", "100"))))
        skip = max(0, int(request.args.get("$skiptoken", "0")))
    except ValueError:
        return graph_error(400, "Request_BadRequest", "Invalid paging value.")
    page = people[skip : skip + top]
    body = {
        "@odata.context": "https://graph.microsoft.com/v1.0/$metadata#users",
        "value": [
            {
                "id": u.object_id,
                "displayName": u.display_name,
                "mail": u.email,
                "userPrincipalName": u.email,
            }
            for u in page
        ],
    }
    if skip + top < len(people):
        select_ = request.args.get("$select")
        query = f"$top={top}&$skiptoken={skip + top}" + (f"&$select={select_}" if select_ else "")
        body["@odata.nextLink"] = f"{request.base_url}?{query}"
    return json_response(body)


@api.get("/me")
@api.get("/users/<user_id>")
def get_user(user_id: str = "me"):
    user = target_user(user_id)
    if isinstance(user, Response):
        return user
    proxies = [f"SMTP:{user.email}", *(f"smtp:{a}" for a in user.aliases)]
    return json_response(
        {
            "@odata.context": "https://graph.microsoft.com/v1.0/$metadata#users/$entity",
            "id": user.object_id,
            "displayName": user.display_name,
            "mail": user.email,
            "userPrincipalName": user.email,
            "proxyAddresses": proxies,
        }
    )


def _folder_json(box: Mailbox, name: str, parent: str = "msgfolderroot") -> dict:
    fid = box.generated.folders[name]
    children = 1 if name == "inbox" else 0
    return {
        "id": fid,
        "displayName": FOLDER_NAMES[name],
        "parentFolderId": parent,
        "childFolderCount": children,
        "totalItemCount": len(box.by_folder.get(fid, [])),
        "unreadItemCount": 0,
    }


def folder_key_of(box: Mailbox, key: str) -> str | None:
    lowered = key.lower()
    if lowered in FOLDER_NAMES and lowered != "clients":
        return lowered
    return next((n for n, fid in box.generated.folders.items() if fid == key), None)


@mailbox_get("/mailFolders")
def list_folders(_user: DirectoryUser, box: Mailbox):
    top = [n for n in FOLDER_NAMES if n != "clients"]
    return json_response({"value": [_folder_json(box, n) for n in top]})


@mailbox_get("/mailFolders/<folder>/childFolders")
def child_folders(_user: DirectoryUser, box: Mailbox, folder: str):
    if folder_key_of(box, folder) == "inbox":
        return json_response(
            {"value": [_folder_json(box, "clients", box.generated.folders["inbox"])]}
        )
    return json_response({"value": []})


@mailbox_get("/mailFolders/<folder>")
def get_folder(_user: DirectoryUser, box: Mailbox, folder: str):
    name = folder_key_of(box, folder)
    if name is None:
        return graph_error(
            404, "ErrorItemNotFound", "The specified object was not found in the store."
        )
    return json_response(_folder_json(box, name))


def init_state(app) -> None:
    graph_state.init_state(app)


# The delta routes, the subscriptions and the controls live in their own modules.
from . import (  # noqa: E402, F401
    fleet,
    graph_batch,
    graph_controls,
    graph_delta,
    graph_invites,
    graph_messages,
    graph_search,
    graph_webhooks,
)

bp.register_blueprint(api, url_prefix="/graph/v1.0")
bp.register_blueprint(graph_controls.controls, url_prefix="/_sandbox/graph")
