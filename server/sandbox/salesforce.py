"""The sandbox's Salesforce: REST API, OAuth, and the switches tests and benchmarks use.

REST lives at the instance root (/services/data/vXX.X/...), as simple-salesforce expects;
OAuth under /salesforce (the login host). Every REST call is counted, answered with the
`Sforce-Limit-Info` header, and may be slowed or failed by the switches under
/_sandbox/salesforce/.
"""

from __future__ import annotations

import time
from typing import Any

from flask import Blueprint, Flask, current_app, jsonify, request

from . import salesforce_oauth as oauth
from .salesforce_rest import dispatch
from .salesforce_store import API_VERSION, Faults, Org, SalesforceState, new_state

bp = Blueprint("sandbox_salesforce", __name__)
MAX_URI_BYTES = 16_384
WRITE_METHODS = ("POST", "PATCH", "PUT", "DELETE")


def init_state(app: Flask, seed_demo: bool = True) -> SalesforceState:
    app.extensions["sandbox_salesforce"] = new_state(seed_demo)
    return app.extensions["sandbox_salesforce"]


def _state() -> SalesforceState:
    if "sandbox_salesforce" not in current_app.extensions:
        init_state(current_app._get_current_object())
    return current_app.extensions["sandbox_salesforce"]


for prefix in ("/salesforce/services/oauth2", "/services/oauth2"):
    bp.add_url_rule(
        f"{prefix}/authorize", f"authorize{prefix}", oauth.authorize, methods=["GET", "POST"]
    )
    bp.add_url_rule(f"{prefix}/token", f"token{prefix}", oauth.token, methods=["POST"])
    bp.add_url_rule(f"{prefix}/revoke", f"revoke{prefix}", oauth.revoke, methods=["POST"])


def _sf_error(status: int, code: str, message: str, org: Org | None = None):
    response = jsonify([{"message": message, "errorCode": code}])
    response.status_code = status
    if org is not None:
        response.headers["Sforce-Limit-Info"] = f"api-usage={org.api_used}/{org.daily_limit}"
    return response


def _kind(method: str, path: str) -> str:
    if path.startswith("query/"):
        return "query_more"
    head = path.split("/", 1)[0]
    if path.startswith("composite/sobjects"):
        return "collection"
    if head == "composite":  # read-only Composite calls (look-ups) apart from writing ones
        subrequests = (request.get_json(silent=True) or {}).get("compositeRequest") or []
        writes = any(str(sub.get("method", "GET")).upper() != "GET" for sub in subrequests)
        return "composite_write" if writes else "composite_read"
    return {"query": "query", "search": "search"}.get(head, f"sobject_{method.lower()}")


@bp.route(f"/services/data/v{API_VERSION}/<path:path>", methods=["GET", "POST", "PATCH", "DELETE"])
def rest(path: str):
    state = _state()
    if len(request.full_path.encode()) > MAX_URI_BYTES:
        return _sf_error(414, "URI_TOO_LONG", "Request-URI Too Long")
    auth = request.headers.get("Authorization", "")
    with state.lock:
        grant = state.access_tokens.get(auth.removeprefix("Bearer ").strip())
        if grant is None or grant["expires_at"] < time.time():
            return _sf_error(401, "INVALID_SESSION_ID", "Session expired or invalid")
        org = state.orgs[grant["org_id"]]
        state.count_call(org, _kind(request.method, path))
        faults = state.faults
        delay = faults.latency_ms + (faults.slow_ms if faults.slow_calls > 0 else 0)
        faults.slow_calls = max(0, faults.slow_calls - 1)
        over_limit = org.api_used > org.daily_limit
        if faults.request_limit_exceeded > 0 or over_limit:
            faults.request_limit_exceeded = max(0, faults.request_limit_exceeded - 1)
            limited = True
        else:
            limited = False
        unavailable = faults.unavailable > 0
        faults.unavailable = max(0, faults.unavailable - 1)
    if delay:
        time.sleep(delay / 1000)
    if limited:
        return _sf_error(403, "REQUEST_LIMIT_EXCEEDED", "TotalRequests Limit exceeded.", org)
    if unavailable:
        return _sf_error(503, "SERVER_UNAVAILABLE", "Service temporarily unavailable", org)
    params = {k: v for k, v in request.args.items()}
    options = request.headers.get("Sforce-Query-Options", "")
    if "batchSize=" in options:
        params["batchSize"] = options.split("batchSize=", 1)[1].split(",")[0].strip()
    body = request.get_json(silent=True) if request.method in WRITE_METHODS else None
    with state.lock:
        status, answer = dispatch(state, org, request.method, path, params, body)
        ambiguous = request.method in WRITE_METHODS and faults.ambiguous_writes > 0 and status < 300
        if ambiguous:
            faults.ambiguous_writes -= 1
    if ambiguous:  # the work is done, but the caller cannot know it
        return _sf_error(503, "SERVER_UNAVAILABLE", "Service temporarily unavailable", org)
    response = jsonify(answer) if answer is not None else current_app.response_class(status=status)
    response.status_code = status
    response.headers["Sforce-Limit-Info"] = f"api-usage={org.api_used}/{org.daily_limit}"
    return response


@bp.get("/salesforce/id/<org_id>/<user_id>")
def identity(org_id: str, user_id: str):
    state = _state()
    org = state.orgs.get(org_id)
    user = org.users.get(user_id) if org else None
    if user is None:
        return _sf_error(404, "NOT_FOUND", "The requested resource does not exist")
    return jsonify(
        {
            "user_id": user_id,
            "organization_id": org_id,
            "username": user["Username"],
            "email": user["Email"],
            "display_name": user["Name"],
        }
    )


# --- switches and arrangement (not part of Salesforce; never counted) ------------------------

CONTROL = "/_sandbox/salesforce"


def _org_from(values: dict[str, Any]) -> Org:
    state = _state()
    if values.get("org_id"):
        return state.orgs[values["org_id"]]
    from .directory import DEMO_TENANT_ID

    return state.org_of_tenant(values.get("tenant_id") or DEMO_TENANT_ID)


@bp.post(f"{CONTROL}/reset")
def control_reset():
    seed = (request.get_json(silent=True) or {}).get("seed_demo", True)
    init_state(current_app._get_current_object(), bool(seed))
    return jsonify({"ok": True})


@bp.get(f"{CONTROL}/stats")
def control_stats():
    state = _state()
    with state.lock:
        return jsonify(
            {
                "api_calls": state.api_calls,
                "calls_by_kind": dict(state.calls_by_kind),
                "token_requests": dict(state.token_requests),
                "orgs": {
                    o.org_id: {
                        "tenant_id": o.tenant_id,
                        "api_used": o.api_used,
                        "daily_limit": o.daily_limit,
                    }
                    for o in state.orgs.values()
                },
            }
        )


@bp.post(f"{CONTROL}/stats/reset")
def control_stats_reset():
    state = _state()
    with state.lock:
        state.api_calls, state.calls_by_kind, state.token_requests = 0, {}, {}
    return jsonify({"ok": True})


@bp.post(f"{CONTROL}/faults")
def control_faults():
    state = _state()
    values = request.get_json(silent=True) or {}
    with state.lock:
        if values.pop("clear", False):
            state.faults = Faults()
        for name, value in values.items():
            if not hasattr(state.faults, name):
                return _sf_error(400, "INVALID_FIELD", f"unknown fault {name}")
            setattr(state.faults, name, int(value))
        return jsonify(vars(state.faults))


@bp.post(f"{CONTROL}/org")
def control_org():
    state = _state()
    values = request.get_json(silent=True) or {}
    with state.lock:
        org = _org_from(values)
        for name in ("api_used", "daily_limit"):
            if name in values:
                setattr(org, name, int(values[name]))
        if "access_token_seconds" in values:
            state.access_token_seconds = int(values["access_token_seconds"])
        if "rotate_refresh_tokens" in values:
            state.rotate_refresh_tokens = bool(values["rotate_refresh_tokens"])
        if "batch_size" in values:
            state.default_batch_size = int(values["batch_size"])
        users = {u["Username"]: uid for uid, u in org.users.items()}
        return jsonify(
            {
                "org_id": org.org_id,
                "api_used": org.api_used,
                "daily_limit": org.daily_limit,
                "users": users,
            }
        )


@bp.post(f"{CONTROL}/sessions/expire")
def control_expire():
    state = _state()
    with state.lock:
        return jsonify({"expired": state.expire_access_tokens()})


@bp.post(f"{CONTROL}/grants/revoke")
def control_revoke():
    state = _state()
    username = (request.get_json(silent=True) or {}).get("username")
    with state.lock:
        return jsonify({"revoked": state.revoke_grants(username)})


@bp.post(f"{CONTROL}/grants")
def control_grant():
    """Tokens for a user without the browser dance (arranging connections in tests)."""
    state = _state()
    username = (request.get_json(silent=True) or {}).get("username", "")
    with state.lock:
        found = state.user_by_username(username)
        if found is None:
            return _sf_error(404, "NOT_FOUND", f"no sandbox Salesforce user {username}")
        org, user = found
        return jsonify(oauth.issue_grant(org.org_id, user["Id"], user["Username"]))


@bp.post(f"{CONTROL}/records")
def control_create_record():
    from .salesforce_rest import create
    from .salesforce_store import SalesforceError

    state = _state()
    values = request.get_json(silent=True) or {}
    with state.lock:
        org = _org_from(values)
        try:
            record_id = create(org, values["sobject"], values.get("fields") or {})
        except SalesforceError as error:
            return _sf_error(error.status, error.code, error.message)
        return jsonify({"id": record_id}), 201


@bp.get(f"{CONTROL}/records")
def control_list_records():
    state = _state()
    with state.lock:
        org = _org_from(request.args)
        table = org.table(request.args.get("sobject", ""))
        return jsonify({"records": list(table.values())})
