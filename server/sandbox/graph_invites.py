"""A meeting invitation arrives: a new event in one user's calendar, for races and benchmarks.

  POST /_sandbox/graph/users/<id>/events
       {"iCalUId": ..., "subject": ..., "organizer": address, "attendees": [address, ...],
        "hoursFromNow": 24, "minutes": 45}

Posting the same iCalUId to several users' calendars is one meeting seen by each of them, as
Exchange does: "iCalUId: a unique identifier for an event across calendars" while each
calendar's copy has its own `id`
(https://learn.microsoft.com/en-us/graph/api/resources/event). The event is reported by the
calendar's next delta round like any other change.
"""

from __future__ import annotations

import itertools
from datetime import UTC, datetime, timedelta

from flask import jsonify, request

from .calendar_gen import event_json
from .graph_controls import _mailbox_or_404, controls
from .graph_state import state

_numbers = itertools.count(1)


class _Address:
    """What calendar_gen's event builder reads of an organizer: an address and a name."""

    def __init__(self, address: str):
        self.email = address
        self.display_name = self.name = address.split("@")[0]


def _attendee(address: str, response: str = "accepted") -> dict:
    return {
        "type": "required",
        "status": {"response": response, "time": "0001-01-01T00:00:00Z"},
        "emailAddress": {"address": address, "name": ""},
    }


@controls.post("/users/<user_id>/events")
def add_event(user_id: str):
    user, box, error = _mailbox_or_404(user_id)
    if error:
        return error
    body = request.get_json(silent=True) or {}
    uid = body.get("iCalUId")
    organizer = body.get("organizer") or user.email
    attendees = body.get("attendees") or []
    if not isinstance(uid, str) or not uid or not isinstance(attendees, list):
        return jsonify({"error": "bad_request", "message": "iCalUId and attendees"}), 400
    number = next(_numbers)
    start = datetime.now(UTC).replace(second=0, microsecond=0) + timedelta(
        hours=float(body.get("hoursFromNow", 24))
    )
    event = event_json(
        user,
        f"AAMkI-{user.object_id[-6:]}-{number:06d}",
        uid,
        str(body.get("subject") or f"Invitation {number}"),
        _Address(organizer),
        [_attendee(organizer, "organizer"), *(_attendee(str(a)) for a in attendees)],
        start,
    )
    st = state()
    with st.lock:
        box.events[event["id"]] = (box.next_event_seq(), event)
    return jsonify({"id": event["id"], "iCalUId": uid}), 201
