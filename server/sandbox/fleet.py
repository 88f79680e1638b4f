"""The sandbox at fleet scale: up to 100,000 generated mailboxes of the demo tenant, each as
small as the configured message count, made by number (nothing stored until a mailbox is
first read), for benchmarks of thousands of mailboxes on one machine.

  POST /_sandbox/graph/fleet {"mailboxes": N}         mailboxes 0..N-1 exist from now on
  POST /_sandbox/graph/fleet/tokens {"from": a, "to": b}
       delegated Graph access tokens of mailboxes a..b-1 (the identity settings' lifetime),
       as Microsoft's token endpoint would issue them after each user's sign-in
  POST /_sandbox/graph/fleet/subscriptions {"from": a, "to": b, "notificationUrl": u,
       "lifecycleNotificationUrl": l, "expirationDateTime": t}
       the two subscriptions a session makes (new mail, calendar changes) for mailboxes
       a..b-1, as POST /subscriptions would create them once its validation handshake passed
       (made in bulk for a benchmark's already-synced fleet; the handshake itself is proven
       by every session that subscribes)
"""

from __future__ import annotations

import re
import secrets

from flask import jsonify, request

from . import identity_state
from .directory import DEMO_DOMAIN, DEMO_TENANT_ID, DirectoryUser
from .graph_controls import controls
from .graph_state import state
from .graph_webhooks import _expiry, _iso

MAX_MAILBOXES = 100_000
OBJECT_ID = "f1ee7000-0000-4000-8000-{:012d}"
_OBJECT_ID = re.compile(r"^f1ee7000-0000-4000-8000-(\d{12})$")
_EMAIL = re.compile(rf"^m(\d+)@{re.escape(DEMO_DOMAIN)}$")
CLIENT_ID = "courier-dev-client"
SCOPES = ["Mail.Read", "Calendars.Read", "User.Read"]


def fleet_user(number: int) -> DirectoryUser:
    return DirectoryUser(
        DEMO_TENANT_ID,
        OBJECT_ID.format(number),
        f"Fleet Mailbox {number}",
        f"m{number}@{DEMO_DOMAIN}",
    )


def find_fleet_user(key: str, size: int) -> DirectoryUser | None:
    """The fleet mailbox an object id or address names (None past the fleet's size)."""
    match = _OBJECT_ID.match(key) or _EMAIL.match(key)
    if match is None:
        return None
    number = int(match.group(1))
    return fleet_user(number) if number < size else None


@controls.post("/fleet")
def set_fleet():
    body = request.get_json(silent=True) or {}
    size = body.get("mailboxes")
    if not isinstance(size, int) or not 0 <= size <= MAX_MAILBOXES:
        return jsonify({"error": "bad_request", "message": f"mailboxes: 0-{MAX_MAILBOXES}"}), 400
    st = state()
    with st.lock:
        st.fleet_size = size
    return jsonify({"mailboxes": size})


@controls.post("/fleet/tokens")
def fleet_tokens():
    body = request.get_json(silent=True) or {}
    first, last = body.get("from", 0), body.get("to", 0)
    size = state().fleet_size
    if not (isinstance(first, int) and isinstance(last, int) and 0 <= first <= last <= size):
        return jsonify({"error": "bad_request", "message": f"from <= to <= {size}"}), 400
    ident = identity_state.state()
    base = request.host_url.rstrip("/")
    tokens = {}
    for number in range(first, last):
        user = fleet_user(number)
        token, lifetime = identity_state.access_token(
            ident, base, user, CLIENT_ID, identity_state.GRAPH_RESOURCE, SCOPES
        )
        tokens[user.object_id] = token
    return jsonify({"tokens": tokens, "expires_in": ident.access_token_lifetime})


@controls.post("/fleet/subscriptions")
def fleet_subscriptions():
    body = request.get_json(silent=True) or {}
    first, last = body.get("from", 0), body.get("to", 0)
    url, lifecycle = body.get("notificationUrl"), body.get("lifecycleNotificationUrl")
    st = state()
    if not (isinstance(first, int) and isinstance(last, int) and 0 <= first <= last):
        return jsonify({"error": "bad_request", "message": "from <= to"}), 400
    if last > st.fleet_size or not isinstance(url, str) or not isinstance(lifecycle, str):
        return jsonify({"error": "bad_request", "message": "to <= fleet size; both URLs"}), 400
    expiry = _iso(_expiry(body.get("expirationDateTime")))
    made = []
    with st.lock:
        for number in range(first, last):
            user = fleet_user(number)
            for resource, change in (
                (f"/users/{user.object_id}/messages", "created"),
                (f"/users/{user.object_id}/events", "created,updated,deleted"),
            ):
                sub = {
                    "id": secrets.token_hex(16),
                    "resource": resource,
                    "changeType": change,
                    "notificationUrl": url,
                    "lifecycleNotificationUrl": lifecycle,
                    "clientState": secrets.token_urlsafe(32),
                    "expirationDateTime": expiry,
                    "userId": user.object_id,
                }
                st.subscriptions[sub["id"]] = sub
                made.append({"number": number, **sub})
    return jsonify({"subscriptions": made})
