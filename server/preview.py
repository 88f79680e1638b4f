"""/preview: the real task pane beside a simulated Outlook, filled with the demo mailbox.

The page lists the demo user's messages (rendered from the sandbox's generated mailbox) and
shows the real pane (addin/taskpane.html) in an iframe. The pane's Office.js is replaced by
the simulated Office object (addin/preview/office-sim.js) while the browser carries the
preview cookie. The dialog pages (sign-in, Salesforce connect) keep the real Office.js, as in
Outlook: outside an Office host it resolves `onReady` with host null, and the bridge page then
hands its message to the simulated dialog by a same-origin postMessage to its opener
(server/static/auth/bridge.js). Only registered when the sandbox is enabled (never in
production).
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from flask import Blueprint, Flask, Response, current_app, render_template, request
from markupsafe import Markup

from .preview_pages import page_of
from .sandbox.directory import DEMO_TENANT_ID, DEMO_USERS, DirectoryUser

bp = Blueprint("preview", __name__)

PANE_PREFIX = "/addin/"
SIM_PATH = "/addin/preview/office-sim.js"
PREVIEW_COOKIE = "courier_preview"
LIST_LIMIT = 40
MAILBOX_LIMIT = 100_000  # the whole generated mailbox, paged by preview_pages.py
SKIPPED_FOLDERS = {"junkemail", "deleteditems", "drafts"}
BODY_PREVIEW_CHARS = 8000


def _demo_user(email: str | None) -> DirectoryUser:
    users = [u for u in DEMO_USERS if u.tenant_id == DEMO_TENANT_ID]
    wanted = (email or "").strip().lower()
    return next((u for u in users if u.email == wanted), users[0])


def _address(raw: dict | None) -> dict[str, str]:
    data = (raw or {}).get("emailAddress") or {}
    return {"address": str(data.get("address") or ""), "name": str(data.get("name") or "")}


def as_office_message(graph: dict[str, Any], folder: str) -> dict[str, Any]:
    """A Graph message JSON as the simulated Office item's data."""
    body = (graph.get("body") or {}).get("content") or ""
    return {
        "id": graph["id"],
        "internetMessageId": graph.get("internetMessageId") or "",
        "conversationId": graph.get("conversationId") or "",
        "subject": graph.get("subject") or "",
        "from": _address(graph.get("from")),
        "to": [_address(r) for r in graph.get("toRecipients") or []],
        "cc": [_address(r) for r in graph.get("ccRecipients") or []],
        "date": graph.get("sentDateTime") or graph.get("receivedDateTime") or "",
        "body": body[:BODY_PREVIEW_CHARS],
        "bodyType": "text" if (graph.get("body") or {}).get("contentType") == "text" else "html",
        "folder": folder,
    }


def demo_messages(user: DirectoryUser, limit: int = LIST_LIMIT) -> list[dict[str, Any]]:
    """The newest messages of the user's generated sandbox mailbox, newest first."""
    from .sandbox.graph_state import DEFAULT_MESSAGES, DEFAULT_SEED
    from .sandbox.mailbox import BAD_BYTES_MARK, GeneratedMailbox

    # The same size and seed as the sandbox's Graph mailbox, so the preview's messages carry
    # the internetMessageIds the background sync sees.
    now = datetime.now(UTC).replace(minute=0, second=0, microsecond=0)
    box = GeneratedMailbox(user, DEFAULT_MESSAGES, DEFAULT_SEED, now)
    out: list[dict[str, Any]] = []
    for index in range(box.count - 1, -1, -1):
        folder = box.folder_of[index]
        if folder in SKIPPED_FOLDERS:
            continue
        graph, _label = box.render(index)
        graph["subject"] = str(graph.get("subject") or "").replace(BAD_BYTES_MARK, "\ufffd")
        out.append(as_office_message(graph, folder))
        if len(out) >= limit:
            break
    # Outlook may not have the internetMessageId of a recently sent item yet (docs-ref
    # office.messageread.yml): the newest sent message shows it in the simulated Office.
    newest_sent = next((m for m in out if m["folder"] == "sentitems"), None)
    if newest_sent is not None:
        newest_sent["recentlySent"] = True
    return out


def _page_number(raw: str | None) -> int:
    text = (raw or "1").strip()
    return int(text) if text.isascii() and text.isdigit() and len(text) <= 6 else 1


@bp.get("/preview")
def preview() -> Response:
    user = _demo_user(request.args.get("user"))
    page = page_of(
        demo_messages(user, limit=MAILBOX_LIMIT),
        query=request.args.get("q", ""),
        folder=request.args.get("folder", "all"),
        number=_page_number(request.args.get("page")),
    )
    messages = page.messages
    html = render_template(
        "preview.html",
        user={"name": user.display_name, "email": user.email},
        users=[
            {"name": u.display_name, "email": u.email}
            for u in DEMO_USERS
            if u.tenant_id == DEMO_TENANT_ID
        ],
        messages=messages,
        page=page,
    )
    response = Response(html, mimetype="text/html")
    response.headers["Cache-Control"] = "no-store"
    response.set_cookie(PREVIEW_COOKIE, "1", httponly=True, samesite="Lax", path="/")
    return response


def _swap_office_js(response: Response) -> Response:
    """Inside the preview, the pane's pages get the simulated Office object."""
    if (
        request.cookies.get(PREVIEW_COOKIE) != "1"
        or not request.path.startswith(PANE_PREFIX)
        or response.status_code != 200
        or response.mimetype != "text/html"
    ):
        return response
    response.direct_passthrough = False
    text = response.get_data(as_text=True)
    office_tag = str(
        Markup('<script src="{}"></script>').format(current_app.config["OFFICE_JS_URL"])
    )
    if office_tag not in text:
        return response
    response.set_data(text.replace(office_tag, f'<script src="{SIM_PATH}"></script>'))
    response.headers["Cache-Control"] = "no-store"
    response.headers.pop("ETag", None)
    return response


def init_app(app: Flask) -> None:
    if not app.config["SANDBOX_ENABLED"]:
        return
    app.register_blueprint(bp)
    app.after_request(_swap_office_js)


__all__ = ["bp", "init_app", "demo_messages", "as_office_message"]
