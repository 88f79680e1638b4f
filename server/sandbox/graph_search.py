"""The sandbox Graph's message list with search and filter (GET /users/{id}/messages), as
documented (https://learn.microsoft.com/graph/api/user-list-messages and
https://learn.microsoft.com/graph/search-query-parameter): `$filter=internetMessageId eq
'<id>'` finds one message; `$search="text"` matches subject, sender and recipients (Graph also
searches bodies; the sandbox does not); `$top` caps the answer. Registered on graph.py's `api`
blueprint."""

from __future__ import annotations

import re

from flask import Response, request

from .graph import api, graph_error, json_response, target_user
from .graph_state import state

_FILTER_ID = re.compile(r"^internetMessageId eq '((?:[^']|'')*)'$")
MAX_TOP = 1000


def _addresses(message: dict) -> list[str]:
    people = [message.get("from"), message.get("sender")]
    for name in ("toRecipients", "ccRecipients"):
        people += message.get(name) or []
    return [
        str((p or {}).get("emailAddress", {}).get("address", "")).lower()
        for p in people
        if isinstance(p, dict)
    ]


def _matches(message: dict, text: str) -> bool:
    needle = text.lower()
    return needle in str(message.get("subject", "")).lower() or any(
        needle in a for a in _addresses(message)
    )


@api.get("/users/<user_id>/messages")
@api.get("/me/messages", defaults={"user_id": "me"})
def list_messages(user_id: str):
    user = target_user(user_id)
    if isinstance(user, Response):
        return user
    search = request.args.get("$search", "").strip()
    flt = request.args.get("$filter", "").strip()
    try:
        top = max(1, min(MAX_TOP, int(request.args.get("$top", "10"))))
    except ValueError:
        return graph_error(400, "BadRequest", "Invalid $top value.")
    wanted_id = None
    if flt:
        found = _FILTER_ID.match(flt)
        if not found:
            return graph_error(400, "BadRequest", "Invalid filter clause.")
        wanted_id = found.group(1).replace("''", "'")
    st = state()
    box = st.mailbox(user)
    text = search.strip('"')
    keep_headers = "internetMessageHeaders" in request.args.get("$select", "")
    with st.lock:
        added = [m for _, m, _ in box.added]
    count = len(box.generated.folder_of)
    out = []
    for index in range(count + len(added)):
        message = box.generated.render(index)[0] if index < count else added[index - count]
        if wanted_id is not None and message.get("internetMessageId") != wanted_id:
            continue
        if text and not _matches(message, text):
            continue
        if not keep_headers:
            message = {k: v for k, v in message.items() if k != "internetMessageHeaders"}
        out.append(message)
        if len(out) >= top:
            break
    return json_response(
        {
            "@odata.context": "https://graph.microsoft.com/v1.0/$metadata#users('x')/messages",
            "value": out,
        }
    )
