"""The sandbox Graph's JSON batching, `POST /$batch`, for the requests Courier batches: GETs of
events (https://learn.microsoft.com/graph/json-batching). As documented: at most 20 requests
with unique ids, else 400 for the whole batch; a 200 envelope whatever the items did, each
item with its own status, headers and body; answers in another order than asked; each item
throttled on its own (a 429 item with Retry-After). Registered on graph.py's `api` blueprint.
"""

from __future__ import annotations

import re
from urllib.parse import unquote

from flask import Response, request

from .graph import api, graph_error, json_response, target_user
from .graph_delta import event_as_read
from .graph_state import state

MAX_REQUESTS = 20
_EVENT_URL = re.compile(r"^/?(?:users/(?P<user>[^/?]+)|me)/events/(?P<event>[^/?]+)(?:\?.*)?$")


def _item(item_id: str, status: int, body: dict, headers: dict | None = None) -> dict:
    head = {"Content-Type": "application/json", **(headers or {})}
    return {"id": item_id, "status": status, "headers": head, "body": body}


def _error(item_id: str, status: int, code: str, message: str, headers=None) -> dict:
    return _item(item_id, status, {"error": {"code": code, "message": message}}, headers)


def _answer(item: dict) -> dict:
    item_id = str(item.get("id"))
    match = _EVENT_URL.match(str(item.get("url", "")))
    if str(item.get("method", "")).upper() != "GET" or match is None:
        return _error(item_id, 501, "NotImplemented", "The sandbox batches only GETs of events.")
    st = state()
    fault = st.fault()
    if fault in ("throttle", "unavailable"):
        st.note(f"fault_batch_{fault}")
        status, code = (429, "TooManyRequests") if fault == "throttle" else (503, "Unavailable")
        return _error(item_id, status, code, "Retry later.", {"Retry-After": st.faults.retry_after})
    user = target_user(unquote(match["user"] or "me"))
    if isinstance(user, Response):
        return _item(item_id, user.status_code, user.get_json())
    event = event_as_read(user, unquote(match["event"]))
    if event is None:
        return _error(
            item_id, 404, "ErrorItemNotFound", "The specified object was not found in the store."
        )
    return _item(item_id, 200, event)


@api.post("/$batch")
def batch():
    requests_ = (request.get_json(silent=True) or {}).get("requests")
    if not isinstance(requests_, list) or not all(isinstance(r, dict) for r in requests_):
        return graph_error(400, "BadRequest", "Invalid batch payload format.")
    ids = [str(r.get("id", "")).lower() for r in requests_]
    if not requests_ or len(requests_) > MAX_REQUESTS or "" in ids or len(set(ids)) < len(ids):
        return graph_error(
            400, "BadRequest", "A batch holds 1 to 20 requests, each with a unique id."
        )
    answers = [_answer(item) for item in requests_]
    return json_response({"responses": answers[::-1]})  # any order: clients match by id
