"""Deterministic calendar events per demo user, each labelled with its intended outcome.

Kinds: meetings with customers (some recurring: every occurrence has its own iCalUId, as in
Graph's calendarView), private ones, internal ones, appointments without attendees, cancelled
ones, and meetings shared by two demo users (the same iCalUId in both calendars: one CRM
meeting for the organisation). Labels are keyed by iCalUId.
"""

from __future__ import annotations

import random
from datetime import datetime, timedelta
from itertools import combinations

from .directory import DEMO_TENANT_ID, DirectoryUser, users_of
from .mailbox import _hash, account_name, linkable_contacts

KINDS = (
    ("external", 50),
    ("recurring", 10),
    ("private", 8),
    ("internal", 12),
    ("appointment", 6),
    ("cancelled", 6),
    ("room_and_customer", 8),
)
SHARED_PER_PAIR = 2
RECURRING_OCCURRENCES = 4


def _when(moment: datetime) -> dict:
    return {"dateTime": moment.strftime("%Y-%m-%dT%H:%M:%S.0000000"), "timeZone": "UTC"}


def _attendee(user_or_contact, kind: str = "required", response: str = "accepted") -> dict:
    address = getattr(user_or_contact, "email", None) or user_or_contact.emails[0]
    name = getattr(user_or_contact, "display_name", None) or user_or_contact.name
    return {
        "type": kind,
        "status": {"response": response, "time": "0001-01-01T00:00:00Z"},
        "emailAddress": {"address": address, "name": name},
    }


def event_json(
    owner: DirectoryUser,
    event_id: str,
    ical_uid: str,
    subject: str,
    organizer,
    attendees: list[dict],
    start: datetime,
    *,
    sensitivity: str = "normal",
    cancelled: bool = False,
    kind: str = "singleInstance",
    series_master_id: str | None = None,
) -> dict:
    org_address = getattr(organizer, "email", None) or organizer.emails[0]
    org_name = getattr(organizer, "display_name", None) or organizer.name
    return {
        "id": event_id,
        "iCalUId": ical_uid,
        "subject": subject,
        "bodyPreview": "",
        "body": {"contentType": "text", "content": f"Agenda: {subject}"},
        "start": _when(start),
        "end": _when(start + timedelta(minutes=45)),
        "sensitivity": sensitivity,
        "isCancelled": cancelled,
        "isOrganizer": org_address == owner.email,
        "isOnlineMeeting": True,
        "onlineMeetingProvider": "teamsForBusiness",
        "type": kind,
        "seriesMasterId": series_master_id,
        "organizer": {"emailAddress": {"address": org_address, "name": org_name}},
        "attendees": attendees,
        "lastModifiedDateTime": start.strftime("%Y-%m-%dT%H:%M:%SZ"),
    }


def _save_label(seed: int, contacts, subject: str, start: datetime, cancelled: bool) -> dict:
    return {
        "outcome": "save",
        "people": sorted(c.emails[0] for c in contacts),
        "accounts": sorted({account_name(c) for c in contacts}),
        "subject": subject,
        "start": start.strftime("%Y-%m-%dT%H:%M:%SZ"),
        "cancelled": cancelled,
    }


def generate_events(
    user: DirectoryUser, count: int, seed: int, now: datetime
) -> list[tuple[dict, dict]]:
    """(Graph event JSON, label) pairs of one user's calendar, in a stable order."""
    contacts = linkable_contacts() if user.tenant_id == DEMO_TENANT_ID else ()
    if not contacts:
        return []
    colleagues = [u for u in users_of(user.tenant_id) if u.object_id != user.object_id]
    rng = random.Random(_hash(seed, user.object_id, "calendar"))
    names, weights = [k for k, _ in KINDS], [w for _, w in KINDS]
    short = user.object_id[-6:]
    base = now.replace(minute=0, second=0, microsecond=0)
    out: list[tuple[dict, dict]] = []
    for n in range(count):
        kind = rng.choices(names, weights)[0]
        contact = contacts[rng.randrange(len(contacts))]
        colleague = colleagues[rng.randrange(len(colleagues))] if colleagues else None
        start = base + timedelta(days=rng.randint(-25, 60), hours=rng.randint(-4, 4))
        uid = f"040000008200E00074C5B7101A82E008-{short}-{seed}-{n}"
        subject = f"{rng.choice(('Demo', 'QBR', 'Kick-off', 'Check-in', 'Review'))} #{n}"
        eid = f"AAMkE-{short}-{n:05d}"
        me = _attendee(user, response="organizer")
        if kind == "recurring":
            for k in range(RECURRING_OCCURRENCES):
                when = start + timedelta(days=7 * k)
                occ_uid = f"{uid}-occ{k}"
                event = event_json(
                    user,
                    f"{eid}-{k}",
                    occ_uid,
                    subject,
                    user,
                    [me, _attendee(contact)],
                    when,
                    kind="occurrence",
                    series_master_id=eid,
                )
                out.append(
                    (event, {**_save_label(seed, [contact], subject, when, False), "kind": kind})
                )
            continue
        attendees = [me, _attendee(contact)]
        sensitivity, cancelled = "normal", False
        label: dict
        if kind == "private":
            sensitivity = "private"
            label = {"outcome": "skip", "reason": "private_event"}
        elif kind == "internal":
            attendees = [me] + ([_attendee(colleague)] if colleague else [])
            label = {"outcome": "skip", "reason": "internal_only"}
        elif kind == "appointment":
            attendees = []
            label = {"outcome": "skip", "reason": "appointment"}
        else:
            if kind == "room_and_customer":
                attendees.append(
                    {
                        "type": "resource",
                        "status": {"response": "accepted"},
                        "emailAddress": {
                            "address": f"room-{n % 9}@courier-demo.test",
                            "name": "Room",
                        },
                    }
                )
            cancelled = kind == "cancelled"
            label = _save_label(seed, [contact], subject, start, cancelled)
        event = event_json(
            user,
            eid,
            uid,
            subject,
            user,
            attendees,
            start,
            sensitivity=sensitivity,
            cancelled=cancelled,
        )
        out.append((event, {**label, "kind": kind}))
    out.extend(_shared_events(user, seed, now, contacts))
    return out


def _shared_events(user: DirectoryUser, seed: int, now: datetime, contacts) -> list:
    """Meetings of two demo users with a customer: both calendars hold the same iCalUId."""
    people = sorted(users_of(user.tenant_id), key=lambda u: u.object_id)
    out = []
    base = now.replace(minute=0, second=0, microsecond=0)
    for first, second in combinations(people, 2):
        if user not in (first, second):
            continue
        for k in range(SHARED_PER_PAIR):
            rng = random.Random(_hash(seed, first.object_id, second.object_id, k))
            contact = contacts[rng.randrange(len(contacts))]
            start = base + timedelta(days=rng.randint(-20, 40), hours=rng.randint(-3, 3))
            uid = (
                f"040000008200E00074C5B7101A82E008-shared-{first.object_id[-6:]}-"
                f"{second.object_id[-6:]}-{seed}-{k}"
            )
            subject = f"Joint call with {contact.name}"
            attendees = [
                _attendee(first, response="organizer"),
                _attendee(second),
                _attendee(contact),
            ]
            eid = (
                f"AAMkE-{user.object_id[-6:]}-shared-{second.object_id[-6:]}-"
                f"{first.object_id[-6:]}-{k}"
            )
            event = event_json(user, eid, uid, subject, first, attendees, start)
            out.append(
                (event, {**_save_label(seed, [contact], subject, start, False), "kind": "shared"})
            )
    return out
