"""The sandbox Graph's delta routes: message delta per folder and calendarView delta, with
Graph's paging (@odata.nextLink within a round, @odata.deltaLink at its end) and 410
syncStateNotFound for a voided token. Registered on graph.py's `api` blueprint."""

from __future__ import annotations

import html
import zlib
from datetime import datetime
from urllib.parse import urlencode

from flask import Response, request

from . import graph_state
from .calendar_series import full_occurrence
from .graph import (
    folder_key_of,
    graph_error,
    json_response,
    mailbox_get,
    page_size,
)
from .graph_select import select_arg, select_fields
from .graph_state import Mailbox, decode_token, encode_token, state

# "Applying $filter in a delta query returns only up to 5,000 messages" — and nothing says
# so in the answer (https://learn.microsoft.com/graph/delta-query-messages).
FILTERED_DELTA_CAP = 5_000


def _select(message: dict, fields: list[str]) -> dict:
    if "receivedDateTime" not in message:
        return dict(message)  # a partial update entry: its few fields whatever $select says
    return select_fields(message, fields)


def _served(message: dict, sent_items_id: str) -> dict:
    """A message as delta serves it. The body is HTML whatever `Prefer:
    outlook.body-content-type` asked: the delta page documents only odata.maxpagesize
    (https://learn.microsoft.com/graph/api/message-delta), and list calls were seen ignoring it
    (microsoftgraph/microsoft-graph-docs#4156). Sent Items often carry no
    internetMessageHeaders (they are set by transport, which a sent copy never went
    through), so those are left out there."""
    out = {
        "@odata.type": "#microsoft.graph.message",
        "@odata.etag": f'W/"CQAAABYAAAARn2vdzPFj{zlib.crc32(message["id"].encode()):010d}"',
        **message,
    }
    body = out.get("body")
    if isinstance(body, dict) and body.get("contentType") == "text":
        out["body"] = {"contentType": "html", "content": html_body(str(body.get("content", "")))}
    if out.get("parentFolderId") == sent_items_id:
        out.pop("internetMessageHeaders", None)
    return out


def html_body(text: str) -> str:
    """Plain text as Outlook stores it in HTML (the shape of a body Graph returns as html)."""
    lines = "<br>\r\n".join(html.escape(line) for line in text.split("\n"))
    return (
        '<html>\r\n<head>\r\n<meta http-equiv="Content-Type" content="text/html; '
        'charset=utf-8">\r\n</head>\r\n<body>\r\n<div dir="ltr">'
        f"{lines}</div>\r\n</body>\r\n</html>\r\n"
    )


@mailbox_get("/mailFolders/<folder>/messages/delta")
def message_delta(_user, box: Mailbox, folder: str):
    st = state()
    name = folder_key_of(box, folder)
    if name is None:
        return graph_error(404, "ErrorItemNotFound", "The specified folder was not found.")
    folder_id = box.generated.folders[name]
    with st.lock:
        token = _round_token(box, box.message_seq)
        if isinstance(token, Response):
            return token
        if token is None:
            since = _since(request.args.get("$filter", ""))
            token = {
                "s": since.isoformat() if since else None,
                "sel": select_arg(),
                "p": 0,
                "h": box.message_seq,
            }
        since = datetime.fromisoformat(token["s"]) if token.get("s") else None
        served = token.get("n", 0)
        size = page_size()
        if since is not None:
            size = min(size, FILTERED_DELTA_CAP - served)
        items, last, more = (
            graph_state.message_page(box, folder_id, since, token["p"], token["h"], size)
            if size > 0
            else ([], token["h"], False)
        )
        if since is not None and served + len(items) >= FILTERED_DELTA_CAP:
            last, more = token["h"], False  # the cap: the rest of the round is never served
    sent_items = box.generated.folders["sentitems"]
    base = f"{request.base_url}"
    body = {
        "@odata.context": "https://graph.microsoft.com/v1.0/$metadata#Collection(message)",
        "value": [_select(_served(m, sent_items), token["sel"]) for _, m, _ in items],
    }
    token.update(e=box.epoch, p=last, n=served + len(items))
    _links(body, base, token, more)
    return json_response(body)


@mailbox_get("/calendarView/delta")
def calendar_delta(_user, box: Mailbox):
    st = state()
    with st.lock:
        token = _round_token(box, box.event_seq)
        if isinstance(token, Response):
            return token
        if token is None:
            start = _date_arg("startDateTime")
            end = _date_arg("endDateTime")
            if start is None or end is None:
                return graph_error(
                    400, "ErrorInvalidParameter", "startDateTime and endDateTime are required."
                )
            token = {"a": start.isoformat(), "b": end.isoformat(), "p": 0, "h": box.event_seq}
        events, last, more = graph_state.event_page(
            box,
            datetime.fromisoformat(token["a"]),
            datetime.fromisoformat(token["b"]),
            token["p"],
            token["h"],
            page_size(),
            incremental=bool(token.get("i")),
        )
    body = {
        "@odata.context": "https://graph.microsoft.com/v1.0/$metadata#Collection(event)",
        "value": events,
    }
    token.update(e=box.epoch, p=last)
    _links(body, request.base_url, token, more)
    return json_response(body)


def _round_token(box: Mailbox, current_seq: int) -> dict | Response | None:
    """The token of a continued round (skiptoken) or a new round from a delta token; None for
    a first request; a 410 when the token was invalidated."""
    raw = request.args.get("$skiptoken") or request.args.get("$deltatoken")
    if not raw:
        return None
    token = decode_token(raw)
    if token is None or token.get("e") != box.epoch:
        return lost_state_error(token)
    if "$deltatoken" in request.args:
        token["h"] = current_seq  # a new round: what changed since the last one
        token["n"] = 0
        token["i"] = 1  # past the first round: out-of-window changes are reported as removed
    return token


def lost_state_error(token: dict | None) -> Response:
    """A voided token: the docs say a "40X-series" status with `syncStateNotFound`
    (https://learn.microsoft.com/graph/delta-query-overview); real bodies spell the code
    `SyncStateNotFound` with this message (microsoftgraph/microsoft-graph-docs-contrib#7897,
    #7975). The status is a switch (faults.lost_state_status: 400, 404 or 410)."""
    status = state().faults.lost_state_status
    status = status if status in (400, 404, 410) else 410
    generation = (token or {}).get("h", 0)
    return graph_error(
        status,
        "SyncStateNotFound",
        f"The sync state generation is not found; generation={generation};"
        f"[highest={generation + 1}][{generation + 1}].",
    )


def _links(body: dict, base: str, token: dict, more: bool) -> None:
    if more:
        body["@odata.nextLink"] = f"{base}?{urlencode({'$skiptoken': encode_token(token)})}"
    else:
        body["@odata.deltaLink"] = f"{base}?{urlencode({'$deltatoken': encode_token(token)})}"


def _since(filter_text: str) -> datetime | None:
    parts = filter_text.split()
    if len(parts) == 3 and parts[0] == "receivedDateTime" and parts[1] in ("ge", "gt"):
        return _parse_date(parts[2])
    return None


def _date_arg(name: str) -> datetime | None:
    return _parse_date(request.args.get(name, ""))


def _parse_date(value: str) -> datetime | None:
    from ..mail.graph_parse import parse_datetime

    return parse_datetime(value)


@mailbox_get("/events/<event_id>")
def get_event(user, _box: Mailbox, event_id: str):
    event = event_as_read(user, event_id)
    if event is None:
        return graph_error(
            404, "ErrorItemNotFound", "The specified object was not found in the store."
        )
    return json_response(event)


def event_as_read(user, event_id: str) -> dict | None:
    """An event as `GET /events/{id}` returns it; None when the calendar has no such event."""
    st = state()
    box = st.mailbox(user)
    with st.lock:
        held = box.events.get(event_id)
        if held is None or "@removed" in held[1]:
            return None
        event = held[1]
        master = box.events.get(event.get("seriesMasterId") or "")
        if event.get("type") == "occurrence" and master is not None:
            # GET returns an occurrence complete, unlike the delta (see calendar_series).
            event = full_occurrence(master[1], event)
        return graph_state.public(event)
