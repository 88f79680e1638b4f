"""The sandbox Graph's message list with search and filter (GET /users/{id}/messages), as
documented (https://learn.microsoft.com/graph/api/user-list-messages and
https://learn.microsoft.com/graph/search-query-parameter): `$filter=internetMessageId eq
'<id>'` finds one message; `$search="text"` matches subject, sender and recipients (Graph also
searches bodies; the sandbox does not); `$top` sizes a page (1..1000, default 10) and the
rest comes by an opaque `@odata.nextLink`.

`$filter=conversationId eq '<id>'`, optionally `and receivedDateTime ge <time>`, lists one
conversation's messages in every folder (the list covers the whole mailbox, "including the
Deleted Items and Clutter folders"). With `$orderby`, a property ordered on must come first in
the filter, else 400 InefficientFilter "The restriction or sort order is too complex for this
operation" (user-list-messages, "Using filter and orderby in the same query"); string literals
double their single quotes. Registered on graph.py's `api` blueprint."""

from __future__ import annotations

import re
from datetime import UTC, datetime
from urllib.parse import quote, urlencode

from flask import request

from .graph import graph_error, json_response, mailbox_get
from .graph_state import Mailbox, state

_FILTER_ID = re.compile(r"^internetMessageId eq '((?:[^']|'')*)'$")
_FILTER_CONVERSATION = re.compile(
    r"^conversationId eq '((?:[^']|'')*)'(?: and receivedDateTime ge (\S+))?$"
)
MAX_TOP = 1000


def _time(value: str) -> datetime | None:
    """An OData DateTimeOffset literal (2026-11-30T09:00:00Z), to the second."""
    try:
        return datetime.fromisoformat(value.replace("Z", "+00:00")[:19]).replace(tzinfo=UTC)
    except ValueError:
        return None


def _parse_filter(flt: str):
    """(field, wanted value, received since) of a supported $filter; None when unsupported."""
    found = _FILTER_ID.match(flt)
    if found:
        return "internetMessageId", found.group(1).replace("''", "'"), None
    found = _FILTER_CONVERSATION.match(flt)
    if not found:
        return None
    since = None
    if found.group(2):
        since = _time(found.group(2))
        if since is None:
            return None
    return "conversationId", found.group(1).replace("''", "'"), since


def _inefficient(flt: str, orderby: str) -> bool:
    """Graph's rule: properties in $orderby must lead the $filter, in the same order."""
    ordered = [part.split()[0] for part in orderby.split(",") if part.strip()]
    filtered = [c.strip().split()[0] for c in re.split(r"\band\b", flt) if c.strip()]
    return filtered[: len(ordered)] != ordered


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


@mailbox_get("/messages")
def list_messages(_user, box: Mailbox):
    search = request.args.get("$search", "").strip()
    flt = request.args.get("$filter", "").strip()
    try:
        top = max(1, min(MAX_TOP, int(request.args.get("$top", "10"))))
        skip = max(0, int(request.args.get("$skip", "0")))
    except ValueError:
        return graph_error(400, "BadRequest", "Invalid $top value.")
    wanted = None
    if flt:
        wanted = _parse_filter(flt)
        if wanted is None:
            return graph_error(400, "BadRequest", "Invalid filter clause.")
        orderby = request.args.get("$orderby", "").strip()
        if orderby and _inefficient(flt, orderby):
            return graph_error(
                400,
                "InefficientFilter",
                "The restriction or sort order is too complex for this operation.",
            )
    st = state()
    text = search.strip('"')
    keep_headers = "internetMessageHeaders" in request.args.get("$select", "")
    with st.lock:
        added = [m for _, m, _ in box.added]
    count = len(box.generated.folder_of)
    out = []
    matched = 0
    more = False
    for index in range(count + len(added)):
        message = box.generated.render(index)[0] if index < count else added[index - count]
        if wanted is not None and not _wanted(message, *wanted):
            continue
        if text and not _matches(message, text):
            continue
        matched += 1
        if matched <= skip:
            continue
        if len(out) >= top:
            more = True
            break
        if not keep_headers:
            message = {k: v for k, v in message.items() if k != "internetMessageHeaders"}
        out.append(message)
    body = {
        "@odata.context": "https://graph.microsoft.com/v1.0/$metadata#users('x')/messages",
        "value": out,
    }
    if more:
        args = request.args.to_dict()
        args["$skip"] = str(skip + len(out))
        body["@odata.nextLink"] = request.base_url + "?" + urlencode(args, quote_via=quote)
    return json_response(body)


def _wanted(message: dict, field: str, value: str, since) -> bool:
    if message.get(field) != value:
        return False
    if since is None:
        return True
    received = _time(str(message.get("receivedDateTime", "")))
    return received is not None and received >= since
