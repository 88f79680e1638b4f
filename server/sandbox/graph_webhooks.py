"""Graph change notifications in the sandbox: POST/PATCH/DELETE /subscriptions with the
validation handshake (of both URLs), notifications sent (from a background thread) when mail
arrives, and lifecycle notifications sent on demand (POST /_sandbox/graph/lifecycle)."""

from __future__ import annotations

import secrets
import threading
from datetime import UTC, datetime, timedelta

import requests
from flask import Response, g, jsonify, request

from .directory import DirectoryUser
from .graph import api, graph_error, json_response, target_user
from .graph_controls import controls
from .graph_state import GraphState, state, user_by_id

MAX_LIFETIME = timedelta(minutes=4230)
VALIDATION_TIMEOUT = 10


def _ca_bundle() -> str:
    from flask import current_app

    return current_app.config.get("SANDBOX_NOTIFY_CA_BUNDLE", "") if current_app else ""


def _resource_user(resource: str) -> str:
    parts = [p for p in resource.strip("/").split("/") if p]
    if len(parts) >= 2 and parts[0].lower() == "users":
        return parts[1]
    return "me"


@api.post("/subscriptions")
def create_subscription():
    body = request.get_json(silent=True) or {}
    resource = str(body.get("resource", ""))
    url = str(body.get("notificationUrl", ""))
    if not resource or not url.startswith(("https://", "http://")):
        return graph_error(400, "InvalidRequest", "resource and notificationUrl are required.")
    user = target_user(_resource_user(resource), resource)
    if isinstance(user, Response):
        return user
    client_state = str(body.get("clientState", ""))
    if len(client_state) > 128:
        return graph_error(400, "InvalidRequest", "clientState is longer than 128 characters.")
    # Both endpoints are validated when a lifecycle URL is given
    # (https://learn.microsoft.com/graph/change-notifications-lifecycle-events).
    lifecycle_url = body.get("lifecycleNotificationUrl")
    for endpoint in [url, *([str(lifecycle_url)] if lifecycle_url else [])]:
        refused = _validate(endpoint)
        if refused is not None:
            return refused
    expiry = _expiry(body.get("expirationDateTime"))
    subscription = {
        "id": secrets.token_hex(16),
        "resource": resource,
        "changeType": body.get("changeType", "created"),
        "notificationUrl": url,
        "lifecycleNotificationUrl": body.get("lifecycleNotificationUrl"),
        "clientState": client_state,
        "expirationDateTime": _iso(expiry),
        "userId": user.object_id,
    }
    st = state()
    with st.lock:
        st.subscriptions[subscription["id"]] = subscription
    return json_response(_public(subscription, created=True)), 201


def _public(subscription: dict, created: bool = False) -> dict:
    """A subscription as Graph answers it (the create example of
    https://learn.microsoft.com/graph/api/subscription-post-subscriptions)."""
    claims = g.get("claims") or {}
    head = {"@odata.context": "https://graph.microsoft.com/v1.0/$metadata#subscriptions/$entity"}
    out = {k: v for k, v in subscription.items() if k != "userId"}
    out.update(
        applicationId=claims.get("azp", ""),
        creatorId=claims.get("oid", ""),
        latestSupportedTlsVersion="v1_2",
    )
    return {**head, **out} if created else out


def _validate(url: str) -> Response | None:
    """The validation handshake: POST ?validationToken=…, answered 200 with the token as text."""
    token = secrets.token_urlsafe(12)
    try:
        answer = requests.post(
            url,
            params={"validationToken": token},
            timeout=VALIDATION_TIMEOUT,
            verify=_ca_bundle() or False,
        )
    except requests.RequestException as exc:
        return graph_error(
            400, "ValidationError", f"Subscription validation request failed: {type(exc).__name__}."
        )
    if answer.status_code != 200 or answer.text != token:
        return graph_error(
            400,
            "ValidationError",
            "Subscription validation request failed. "
            "Response must exactly match validationToken query parameter.",
        )
    return None


@api.patch("/subscriptions/<sub_id>")
def renew_subscription(sub_id: str):
    st = state()
    with st.lock:
        subscription = st.subscriptions.get(sub_id)
        if subscription is None:
            return graph_error(404, "ResourceNotFound", "The object was not found.")
        body = request.get_json(silent=True) or {}
        subscription["expirationDateTime"] = _iso(_expiry(body.get("expirationDateTime")))
        return json_response(_public(subscription))


@api.delete("/subscriptions/<sub_id>")
def delete_subscription(sub_id: str):
    st = state()
    with st.lock:
        st.subscriptions.pop(sub_id, None)
    return Response(b"", 204)


def _expiry(value) -> datetime:
    now = datetime.now(UTC)
    try:
        wanted = datetime.fromisoformat(str(value).replace("Z", "+00:00"))
    except ValueError:
        wanted = now + MAX_LIFETIME
    if wanted.tzinfo is None:
        wanted = wanted.replace(tzinfo=UTC)
    return min(wanted, now + MAX_LIFETIME)


def _iso(moment: datetime) -> str:
    return moment.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.0000000Z")


def notify(st: GraphState, user: DirectoryUser, change_type: str, item_id: str) -> None:
    """Send a change notification to every live subscription of the user (in the background,
    as Graph does: the caller does not wait)."""
    with st.lock:
        targets = [s for s in st.subscriptions.values() if s["userId"] == user.object_id]
    if not targets:
        return
    verify = _ca_bundle() or False

    def send() -> None:
        for sub in targets:
            payload = {
                "value": [
                    {
                        "id": secrets.token_urlsafe(9),
                        "subscriptionId": sub["id"],
                        "clientState": sub["clientState"],
                        "changeType": change_type,
                        "resource": f"Users/{user.object_id}/Messages/{item_id}",
                        "subscriptionExpirationDateTime": sub["expirationDateTime"],
                        "tenantId": user.tenant_id,
                        "resourceData": {
                            "@odata.type": "#Microsoft.Graph.Message",
                            "@odata.id": f"Users/{user.object_id}/Messages/{item_id}",
                            "@odata.etag": 'W/"CQAAABYAAADkrWGo7bouTKlsgTZMr9KwAAAUWRHf"',
                            "id": item_id,
                        },
                    }
                ]
            }
            try:
                requests.post(sub["notificationUrl"], json=payload, timeout=10, verify=verify)
            except requests.RequestException:
                continue  # Graph would retry for hours; the safety poll covers us here

    threading.Thread(target=send, name="graph-notify", daemon=True).start()


LIFECYCLE_EVENTS = ("subscriptionRemoved", "missed", "reauthorizationRequired")


@controls.post("/lifecycle")
def send_lifecycle():
    """Graph sends a lifecycle notification to every subscription of a user that has a
    lifecycleNotificationUrl, with the documented body (subscriptionId,
    subscriptionExpirationDateTime, tenantId, clientState, lifecycleEvent; see
    https://learn.microsoft.com/graph/change-notifications-lifecycle-events).
    subscriptionRemoved also removes the subscriptions. Delivered before answering, so a
    test can wait on the outcome; answers the status each URL gave."""
    body = request.get_json(silent=True) or {}
    event = str(body.get("event", ""))
    user = user_by_id(str(body.get("user", "")))
    if event not in LIFECYCLE_EVENTS or user is None:
        return jsonify({"error": "bad_request", "message": "user and a known event"}), 400
    st = state()
    with st.lock:
        subs = [
            s
            for s in st.subscriptions.values()
            if s["userId"] == user.object_id and s.get("lifecycleNotificationUrl")
        ]
        if event == "subscriptionRemoved":
            for sub in subs:
                st.subscriptions.pop(sub["id"], None)
    by_url: dict[str, list[dict]] = {}
    for sub in subs:
        by_url.setdefault(sub["lifecycleNotificationUrl"], []).append(
            {
                "subscriptionId": sub["id"],
                "subscriptionExpirationDateTime": sub["expirationDateTime"],
                "tenantId": user.tenant_id,
                "clientState": sub["clientState"],
                "lifecycleEvent": event,
            }
        )
    delivered = {}
    for url, items in by_url.items():
        try:
            answer = requests.post(
                url, json={"value": items}, timeout=10, verify=_ca_bundle() or False
            )
            delivered[url] = answer.status_code
        except requests.RequestException as exc:
            delivered[url] = type(exc).__name__
    return jsonify(
        {"event": event, "subscriptions": [s["id"] for s in subs], "delivered": delivered}
    )
