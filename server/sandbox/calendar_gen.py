"""Deterministic calendar events per demo user, each labelled with its intended outcome.

Kinds: meetings with customers (some weekly series: a series master plus sparse occurrences,
see calendar_series), private ones, internal ones, appointments without attendees, cancelled
ones, and meetings and series shared by two demo users (the same iCalUId in both calendars:
one CRM meeting for the organisation). Labels are keyed by the CRM meeting's key: the
iCalUId, or for an occurrence rules.keys.occurrence_key.
"""

from __future__ import annotations

import random
from datetime import UTC, datetime, timedelta
from itertools import combinations

from .calendar_series import as_exception, parse_when, sparse_occurrence, weekly_recurrence, when
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
SERIES_OCCURRENCES = 6
MEETING_MINUTES = 45
CALENDAR_PAST_DAYS = 30  # the default SYNC_CALENDAR_PAST_DAYS


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
        "start": when(start),
        "end": when(start + timedelta(minutes=MEETING_MINUTES)),
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


def _series(
    owner: DirectoryUser,
    eid: str,
    uid: str,
    subject: str,
    attendees: list[dict],
    contacts,
    rng: random.Random,
    now: datetime,
    organizer=None,
    kind: str = "recurring",
) -> list[tuple[dict, dict | None]]:
    """A weekly series: its master (no label: it is no meeting) and its occurrences, some
    before the calendar window (skipped), one an exception moved by an hour."""
    today = now.astimezone(UTC).replace(hour=0, minute=0, second=0, microsecond=0)
    first = today + timedelta(days=rng.randint(-45, 40), hours=rng.randint(8, 16))
    moments = [first + timedelta(days=7 * k) for k in range(SERIES_OCCURRENCES)]
    edge = today - timedelta(days=CALENDAR_PAST_DAYS)
    if any(abs(m - edge) < timedelta(hours=36) for m in moments):
        # Keep clear of the window's edge (the session's window is whole days).
        moments = [m + timedelta(days=3) for m in moments]
    master = event_json(owner, eid, uid, subject, organizer or owner, attendees, moments[0])
    master.update(type="seriesMaster", recurrence=weekly_recurrence(moments[0], len(moments)))
    out: list[tuple[dict, dict | None]] = [(master, None)]
    for k, moment in enumerate(moments):
        occurrence = sparse_occurrence(master, f"{eid}-occ{k}", moment, MEETING_MINUTES)
        label = {**_save_label(0, contacts, subject, moment, False), "kind": kind}
        if moment < edge:
            label = {"outcome": "skip", "reason": "outside_window", "kind": kind}
        elif k == 2:
            # An occurrence moved by an hour before the first sync: an exception.
            occurrence = as_exception(master, occurrence)
            for field in ("start", "end"):
                occurrence[field] = when(parse_when(occurrence[field]) + timedelta(hours=1))
            label["start"] = occurrence["start"]["dateTime"][:19] + "Z"
        out.append((occurrence, label))
    return out


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
) -> list[tuple[dict, dict | None]]:
    """(Graph event JSON, label) pairs of one user's calendar, in a stable order; a series
    master has no label (the CRM holds its occurrences, not it)."""
    contacts = linkable_contacts() if user.tenant_id == DEMO_TENANT_ID else ()
    if not contacts:
        return []
    colleagues = [u for u in users_of(user.tenant_id) if u.object_id != user.object_id]
    rng = random.Random(_hash(seed, user.object_id, "calendar"))
    names, weights = [k for k, _ in KINDS], [w for _, w in KINDS]
    short = user.object_id[-6:]
    base = now.replace(minute=0, second=0, microsecond=0)
    out: list[tuple[dict, dict | None]] = []
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
            out.extend(
                _series(user, eid, uid, subject, [me, _attendee(contact)], [contact], rng, now)
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
        # A weekly series of both with a customer: each calendar has its own event ids, the
        # CRM one meeting per occurrence.
        rng = random.Random(_hash(seed, first.object_id, second.object_id, "series"))
        contact = contacts[rng.randrange(len(contacts))]
        pair = f"{first.object_id[-6:]}-{second.object_id[-6:]}"
        attendees = [_attendee(first, response="organizer"), _attendee(second), _attendee(contact)]
        out.extend(
            _series(
                user,
                f"AAMkE-{user.object_id[-6:]}-series-{pair}",
                f"040000008200E00074C5B7101A82E008-series-{pair}-{seed}",
                f"Weekly sync with {contact.name}",
                attendees,
                [contact],
                rng,
                now,
                organizer=first,
                kind="shared_series",
            )
        )
    return out
