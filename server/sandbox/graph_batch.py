"""The sandbox's Graph JSON batching: POST /$batch, with the documented semantics
(https://learn.microsoft.com/graph/json-batching; "Throttling and batching" in
https://learn.microsoft.com/graph/throttling):
- at most 20 requests, ids unique (else the whole batch is a 400); urls relative;
- each request runs as its own request (auth, faults and throttling evaluated individually:
  a throttled one is a 429 item with its own Retry-After header) and the envelope is 200;
- `dependsOn` runs a request after the ones it names; if one of those failed, it is not
  run and answers 424 Failed Dependency;
- answers may come back in any order: this sandbox answers in reverse, so a client that
  relies on the order is caught.
"""

from __future__ import annotations

import json

from flask import current_app, request

from .graph import api, graph_error, json_response
from .graph_state import state

MAX_REQUESTS = 20
BASE = "/graph/v1.0"


@api.post("/$batch")
def batch():
    body = request.get_json(silent=True)
    items = body.get("requests") if isinstance(body, dict) else None
    refused = _refused(items)
    if refused is None:
        try:
            ordered = _in_dependency_order(items)
        except ValueError:
            refused = "dependsOn makes a cycle."
    if refused is not None:
        return graph_error(400, "BadRequest", refused)
    statuses: dict[str, int] = {}
    answers = []
    for item in ordered:
        request_id = str(item["id"])
        failed = [d for d in item.get("dependsOn") or [] if not 200 <= statuses[_key(d)] < 300]
        if failed:
            statuses[_key(request_id)] = 424
            answers.append(_failed_dependency(request_id, failed))
            continue
        answer = _run(item)
        statuses[_key(request_id)] = answer["status"]
        answers.append(answer)
    return json_response({"responses": list(reversed(answers))})


def _refused(items) -> str | None:
    if not isinstance(items, list) or not items:
        return "The batch needs a non-empty 'requests' array."
    if len(items) > MAX_REQUESTS:
        return f"The batch has {len(items)} requests; the limit is {MAX_REQUESTS}."
    ids = [str(i.get("id", "")).lower() if isinstance(i, dict) else "" for i in items]
    if "" in ids or len(set(ids)) != len(ids):
        return "Every request needs an id, unique in the batch."
    for item in items:
        if not str(item.get("method", "")) or not str(item.get("url", "")):
            return "Every request needs a method and a url."
        if not isinstance(item.get("dependsOn") or [], list):
            return "dependsOn must be an array of request ids."
        for dependency in item.get("dependsOn") or []:
            if str(dependency).lower() not in ids:
                return f"dependsOn names an unknown request id: {dependency}."
    return None


def _in_dependency_order(items: list[dict]) -> list[dict]:
    """Each request after the ones it depends on (a cycle is refused as unknown)."""
    by_id = {_key(i["id"]): i for i in items}
    done: list[dict] = []
    seen: set[str] = set()

    def visit(item: dict, path: set[str]) -> None:
        key = _key(item["id"])
        if key in seen:
            return
        if key in path:
            raise ValueError("cycle")
        for dependency in item.get("dependsOn") or []:
            visit(by_id[_key(dependency)], path | {key})
        seen.add(key)
        done.append(item)

    for item in items:
        visit(item, set())
    return done


def _key(request_id) -> str:
    """Request ids are not case-sensitive."""
    return str(request_id).lower()


def _run(item: dict) -> dict:
    """One request of the batch, through the whole sandbox app as its own request."""
    throttled = _throttled_item(str(item["id"]))
    if throttled is not None:
        return throttled
    url = str(item["url"])
    headers = {str(k): str(v) for k, v in (item.get("headers") or {}).items()}
    authorization = request.headers.get("Authorization")
    if authorization:
        headers["Authorization"] = authorization
    # Its own app context (its own `g`), and the batch's scheme and host, so the links it
    # answers (@odata.nextLink, deltaLink) point where the batch was sent.
    with current_app.app_context(), current_app.test_client() as client:
        answer = client.open(
            BASE + "/" + url.lstrip("/"),
            base_url=request.host_url,
            method=str(item["method"]).upper(),
            headers=headers,
            json=item.get("body"),
        )
    text = answer.get_data().decode("utf-8", errors="replace")
    try:
        body = json.loads(text) if text else None
    except ValueError:
        body = text
    out_headers = {"Content-Type": answer.headers.get("Content-Type", "application/json")}
    if "Retry-After" in answer.headers:
        out_headers["Retry-After"] = answer.headers["Retry-After"]
    out = {"id": str(item["id"]), "status": answer.status_code, "headers": out_headers}
    if body is not None:
        out["body"] = body
    return out


def _throttled_item(request_id: str) -> dict | None:
    st = state()
    with st.lock:
        if st.faults.batch_item_throttles <= 0:
            return None
        st.faults.batch_item_throttles -= 1
    st.note("fault_throttle_in_batch")
    return {
        "id": request_id,
        "status": 429,
        "headers": {"Content-Type": "application/json", "Retry-After": st.faults.retry_after},
        "body": {
            "error": {
                "code": "TooManyRequests",
                "message": "Application is over its MailboxConcurrency limit.",
            }
        },
    }


def _failed_dependency(request_id: str, failed: list) -> dict:
    return {
        "id": request_id,
        "status": 424,
        "headers": {"Content-Type": "application/json"},
        "body": {
            "error": {
                "code": "FailedDependency",
                "message": f"Dependency failed: {', '.join(map(str, failed))}.",
            }
        },
    }
