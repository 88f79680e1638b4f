"""Controls of the sandbox's Graph under /_sandbox/graph: size, labels, faults, new mail and
event changes while running, delta-token invalidation, request counters."""

from __future__ import annotations

import itertools
from datetime import UTC, datetime, timedelta

from flask import Blueprint, current_app, jsonify, request

from . import graph_state
from .calendar_series import as_exception, label_key
from .directory import DEMO_DOMAIN
from .graph_state import Faults, removed_event, state
from .mailbox import account_name, iso, linkable_contacts

controls = Blueprint("sandbox_graph_controls", __name__)
_added_ids = itertools.count(1)


def _mailbox_or_404(identifier: str):
    """(user, their mailbox, None), or (None, None, the 404 answer) for an unknown user."""
    user = graph_state.user_by_id(identifier)
    if user is None:
        return None, None, (jsonify({"error": "unknown_user", "message": identifier}), 404)
    return user, state().mailbox(user), None


@controls.post("/configure")
def configure():
    body = request.get_json(silent=True) or {}
    graph_state.init_state(
        current_app._get_current_object(),
        seed=body.get("seed"),
        messages=body.get("messages"),
        events=body.get("events"),
    )
    st = state()
    return jsonify({"seed": st.seed, "messages": st.messages, "events": st.events})


@controls.get("/labels")
def labels():
    """Every item's intended outcome: messages by Graph id, events by iCalUId."""
    user, box, error = _mailbox_or_404(request.args.get("user", ""))
    if error:
        return error
    st = state()
    with st.lock:
        messages = {}
        for index in range(box.generated.count):
            _, label = box.generated.render(index)
            messages[label["id"]] = label
        for _, message, label in box.added:
            messages[message["id"]] = label
        events = dict(box.event_labels)
    return jsonify({"messages": messages, "events": events, "policy": _policy()})


def _policy() -> dict:
    from .mailbox import LABEL_POLICY

    return LABEL_POLICY


@controls.post("/faults")
def set_faults():
    body = request.get_json(silent=True) or {}
    known = set(Faults.__dataclass_fields__)
    faults = Faults(**{k: v for k, v in body.items() if k in known})
    st = state()
    with st.lock:
        st.faults = faults
        st.rng.seed(faults.seed)
    return jsonify(faults.__dict__)


@controls.get("/stats")
def stats():
    st = state()
    with st.lock:
        return jsonify(
            {
                "requests": st.requests,
                "by_kind": dict(st.requests_by_kind),
                "max_in_flight": st.max_in_flight,
            }
        )


@controls.post("/stats/reset")
def reset_stats():
    st = state()
    with st.lock:
        st.requests = 0
        st.requests_by_kind = {}
        st.max_in_flight = 0
    return jsonify({"requests": 0})


@controls.post("/invalidate")
def invalidate():
    """Void every delta and skip token (of one user, or of all): the next request gets 410."""
    body = request.get_json(silent=True) or {}
    st = state()
    with st.lock:
        for box in st.mailboxes.values():
            if not body.get("user") or body["user"] in (box.user.object_id, box.user.email):
                box.epoch += 1
    return jsonify({"invalidated": True})


@controls.post("/users/<user_id>/messages")
def add_message(user_id: str):
    """New mail arrives (or, with "receivedDateTime", came then). Without "from", a message
    from a known customer (labelled save)."""
    user, box, error = _mailbox_or_404(user_id)
    if error:
        return error
    body = request.get_json(silent=True) or {}
    st = state()
    with st.lock:
        number = next(_added_ids)
        folder = body.get("folder", "inbox")
        label = body.get("label")
        sender = body.get("from")
        if not sender:
            contacts = linkable_contacts()
            contact = contacts[(number * 7919) % len(contacts)]
            sender = contact.emails[0]
            label = {
                "outcome": "save",
                "people": [contact.emails[0]],
                "accounts": [account_name(contact)],
            }
        now = datetime.now(UTC)
        if body.get("receivedDateTime"):  # mail that came earlier (a thread's older replies)
            now = datetime.fromisoformat(str(body["receivedDateTime"]).replace("Z", "+00:00"))
        # One message delivered to several mailboxes keeps one Message-ID (give it to both).
        mid = body.get("internetMessageId") or (
            f"<added{number}.{user.object_id[-6:]}.{st.seed}@{DEMO_DOMAIN}>"
        )
        to = body.get("to") or [user.email]
        message = {
            "id": f"AAMkN-{user.object_id[-6:]}-{number:06d}",
            "internetMessageId": mid,
            "conversationId": body.get("conversationId", f"AAQkN-{number}"),
            "parentFolderId": box.generated.folders.get(folder, folder),
            "subject": body.get("subject", f"New message {number}"),
            "from": {"emailAddress": {"address": sender, "name": ""}},
            "sender": {"emailAddress": {"address": sender, "name": ""}},
            "toRecipients": [{"emailAddress": {"address": a, "name": ""}} for a in to],
            "ccRecipients": [
                {"emailAddress": {"address": a, "name": ""}} for a in body.get("cc", [])
            ],
            "bccRecipients": [],
            "replyTo": [],
            "receivedDateTime": iso(now),
            "sentDateTime": iso(now - timedelta(seconds=3)),
            "isDraft": False,
            "body": {"contentType": "text", "content": body.get("body", "Hello")},
            "internetMessageHeaders": [{"name": "Message-ID", "value": mid}]
            + [{"name": k, "value": v} for k, v in (body.get("headers") or {}).items()],
        }
        label = dict(label or {"outcome": "skip", "reason": "unlabelled"})
        label.update(id=message["id"], internet_message_id=mid, folder=folder, category="added")
        box.added.append((box.next_message_seq(), message, label))
    if body.get("notify", True):  # false: a change whose notification Graph never sent
        from .graph_webhooks import notify

        notify(st, user, "created", message["id"])
    return jsonify({"id": message["id"], "internetMessageId": mid, "label": label}), 201


@controls.post("/users/<user_id>/messages/<message_id>/read")
def mark_read(user_id: str, message_id: str):
    """The user reads a message: the next delta round carries a partial entry for it (only
    id, isRead and parentFolderId, as microsoftgraph/microsoft-graph-docs-contrib#5544 shows)."""
    user, box, error = _mailbox_or_404(user_id)
    if error:
        return error
    st = state()
    with st.lock:
        message = box.message(message_id)
        if message is None:
            return jsonify({"error": "unknown_message", "message": message_id}), 404
        seq = box.next_message_seq()
        entry = {
            "@odata.type": "#microsoft.graph.message",
            "@odata.etag": f'W/"CQAAABYAAA{seq:08d}"',
            "id": message_id,
            "isRead": True,
            "parentFolderId": message["parentFolderId"],
        }
        received = graph_state.parse_received(message["receivedDateTime"])
        box.updates.append((seq, entry, received))
    return jsonify({"id": message_id, "seq": seq})


def _event_change(user_id: str, event_id: str, change, *, edits: bool = True):
    """Apply `change(event, label)` to an event, as a new change of the calendar. The change
    may return what the calendar holds from now on instead of the event (a removal). An
    occurrence of a series that is edited (`edits`) becomes an exception, as in Outlook."""
    user, box, error = _mailbox_or_404(user_id)
    if error:
        return error
    st = state()
    with st.lock:
        if event_id not in box.events or "@removed" in box.events[event_id][1]:
            return jsonify({"error": "unknown_event", "message": event_id}), 404
        _, event = box.events[event_id]
        key = label_key(event)  # "" for a series master: no meeting, no label of its own
        label = box.event_labels.setdefault(key, {}) if key else {}
        master = box.events.get(event.get("seriesMasterId") or "")
        if edits and event.get("type") == "occurrence" and master is not None:
            event = as_exception(master[1], event)
        event["lastModifiedDateTime"] = iso(datetime.now(UTC))
        held = change(event, label) or event
        box.events[event_id] = (box.next_event_seq(), held)
    return jsonify({"event": graph_state.public(held), "label": label})


@controls.post("/users/<user_id>/events/<event_id>/move")
def move_event(user_id: str, event_id: str):
    hours = float((request.get_json(silent=True) or {}).get("hours", 2))

    def change(event: dict, label: dict) -> None:
        # Where it was: a move out of the calendar window is then reported as a removal.
        event["_moved_from"] = dict(event["start"])
        for edge in ("start", "end"):
            moment = datetime.fromisoformat(event[edge]["dateTime"][:19]).replace(tzinfo=UTC)
            event[edge]["dateTime"] = (moment + timedelta(hours=hours)).strftime(
                "%Y-%m-%dT%H:%M:%S.0000000"
            )
        label["start"] = event["start"]["dateTime"][:19] + "Z"

    return _event_change(user_id, event_id, change)


@controls.post("/users/<user_id>/events/<event_id>/cancel")
def cancel_event(user_id: str, event_id: str):
    def change(event: dict, label: dict) -> None:
        event["isCancelled"] = True
        event["subject"] = f"Canceled: {event['subject']}"
        label["cancelled"] = True
        label["subject"] = event["subject"]

    return _event_change(user_id, event_id, change)


@controls.post("/users/<user_id>/events/<event_id>/delete")
def delete_event(user_id: str, event_id: str):
    """The event is deleted from this calendar: the next calendar delta reports it as
    `{"id": ..., "@removed": {"reason": "deleted"}}`, as Graph does. Unless another demo user
    still has the meeting, its label turns cancelled (the CRM meeting is marked, not deleted).
    A series master deleted takes its whole series with it (below)."""
    st = state()
    me = graph_state.user_by_id(user_id)

    def gone(event: dict, label: dict) -> None:
        key = label_key(event)
        shared = any(
            any(label_key(e) == key for _, e in other.events.values() if "@removed" not in e)
            for other in st.mailboxes.values()
            if me is None or other.user.object_id != me.object_id
        )
        label["removed"] = True
        if not shared:
            label["cancelled"] = True

    def change(event: dict, label: dict) -> dict:
        if event.get("type") == "seriesMaster" and me is not None:
            # The whole series: its occurrences and exceptions go with it, but the delta
            # reports the master's removal only — nothing for the occurrences, as for one
            # occurrence deleted alone ("no indication is given for a deleted occurrence",
            # microsoft-graph-docs#4501; microsoft-graph-docs#5520); a GET of one then
            # answers 404 like any deleted event.
            box = st.mailbox(me)
            for eid, (_, other) in list(box.events.items()):
                if other.get("seriesMasterId") == event_id and "@removed" not in other:
                    gone(other, box.event_labels.setdefault(label_key(other), {}))
                    del box.events[eid]
        else:
            gone(event, label)
        return removed_event(event_id, event)

    return _event_change(user_id, event_id, change, edits=False)


@controls.post("/users/<user_id>/events/<event_id>/edit")
def edit_event(user_id: str, event_id: str):
    """A new subject and/or extra attendees (addresses) for this event; one occurrence of a
    series edited alone becomes an exception with its own subject and attendees."""
    body = request.get_json(silent=True) or {}

    def change(event: dict, label: dict) -> None:
        if isinstance(body.get("subject"), str):
            event["subject"] = label["subject"] = body["subject"]
        for address in body.get("add_attendees") or []:
            event["attendees"] = [
                *event.get("attendees", []),
                {
                    "type": "required",
                    "status": {"response": "none", "time": "0001-01-01T00:00:00Z"},
                    "emailAddress": {"address": address, "name": ""},
                },
            ]
        if isinstance(body.get("label"), dict):
            label.update(body["label"])

    return _event_change(user_id, event_id, change)


@controls.put("/users/<user_id>/calendar")
def replace_calendar(user_id: str):
    """The calendar holds exactly these Graph events from now on (unlabelled), served as
    given: how the contract tests put a documented example behind the real routes."""
    user, box, error = _mailbox_or_404(user_id)
    if error:
        return error
    events = (request.get_json(silent=True) or {}).get("events")
    if not isinstance(events, list) or not all(
        isinstance(e, dict) and isinstance(e.get("id"), str) and "@removed" not in e for e in events
    ):
        return jsonify({"error": "bad_events", "message": "events: a list of events"}), 400
    st = state()
    with st.lock:
        box.events.clear()
        box.event_labels.clear()
        box.epoch += 1  # a new calendar: earlier delta tokens are void
        for event in events:
            box.events[event["id"]] = (box.next_event_seq(), dict(event))
    return jsonify({"events": len(events)})
