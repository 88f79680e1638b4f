"""Logging emails and meetings to the built-in CRM, idempotently by key.

An activity is written once per (organisation, key): the insert skips a key that exists
(INSERT ... ON CONFLICT DO NOTHING), so a repeat — or a concurrent writer of the same key —
finds the existing row and only adds the links it lacks (same trick for links, whose unique
constraint is (activity, record type, record id, role)). Nothing here commits.
"""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import select
from sqlalchemy.orm import Session

from ...db import utcnow
from ..base import ActivityDraft, CRMNotFound, CRMValidationError, Link, LoggedActivity, RecordRef
from .bulk import insert_ignoring_duplicates
from .models import (
    CrmActivity,
    CrmActivityLink,
)
from .records import existing_refs
from .touch import RECORD_TABLES, touch_records

MAX_KEY = 512
MAX_SUBJECT = 255
DIRECTIONS = ("inbound", "outbound", "internal")
MAX_OWNER = 64
ROLES = ("from", "to", "cc", "bcc", "attendee", "organizer", "related")


def _validate(drafts: list[ActivityDraft], kind: str) -> None:
    for draft in drafts:
        if draft.kind != kind:
            raise CRMValidationError(f"a {draft.kind} cannot be logged as a {kind}")
        if not draft.key or len(draft.key) > MAX_KEY:
            raise CRMValidationError("an activity needs a key of at most 512 characters")
        if not isinstance(draft.start, datetime):
            raise CRMValidationError("an activity needs a start time")
        for moment in (draft.start, draft.end):
            if moment is not None and moment.tzinfo is None:
                raise CRMValidationError("activity times must be timezone-aware")
        if draft.direction not in DIRECTIONS:
            raise CRMValidationError(f"unknown direction {draft.direction!r}")
        if draft.owner_id is not None and len(str(draft.owner_id)) > MAX_OWNER:
            raise CRMValidationError("owner id too long")
        for link in draft.links:
            if link.ref.type not in RECORD_TABLES or link.role not in ROLES:
                raise CRMValidationError(f"cannot link to {link.ref.type} as {link.role!r}")


def _check_kinds(activities: dict, kind: str) -> None:
    for key, activity in activities.items():
        if activity.kind != kind:
            raise CRMValidationError(f"key {key[:80]!r} is already logged as a {activity.kind}")


def _activity_row(org_id: int, draft: ActivityDraft) -> dict:
    return {
        "org_id": org_id,
        "kind": draft.kind,
        "key": draft.key,
        "subject": (draft.subject or "")[:MAX_SUBJECT],
        "body_text": draft.body_text or "",
        "start": draft.start,
        "end": draft.end,
        "direction": draft.direction,
        "conversation_id": (draft.conversation_id or "")[:MAX_KEY],
        "participants": [
            {"address": str(p.address)[:320], "name": str(p.name)[:200], "role": str(p.role)[:16]}
            for p in draft.participants
        ],
        "cancelled": bool(draft.cancelled),
        "owner_id": draft.owner_id,
        "series_key": (draft.series_key or "")[:MAX_KEY],
        "created_at": utcnow(),
        "updated_at": utcnow(),
    }


@dataclass(frozen=True)
class _Stored:
    """What log_activities needs of a stored activity, without loading an ORM object."""

    id: int
    key: str
    kind: str
    subject: str
    start: datetime
    cancelled: bool


def _load(session: Session, org_id: int, keys: list[str]) -> dict[str, CrmActivity]:
    if not keys:
        return {}
    rows = session.scalars(
        select(CrmActivity)
        .where(CrmActivity.org_id == org_id, CrmActivity.key.in_(keys))
        .execution_options(populate_existing=True)
    )
    return {row.key: row for row in rows}


def _load_stored(session: Session, org_id: int, keys: list[str]) -> dict[str, _Stored]:
    """Plain rows (no ORM objects, no autoflush): the cheap read of the email path."""
    if not keys:
        return {}
    t = CrmActivity.__table__
    rows = session.execute(
        select(t.c.id, t.c.key, t.c.kind, t.c.subject, t.c.start, t.c.cancelled).where(
            t.c.org_id == org_id, t.c.key.in_(keys)
        )
    )
    return {row.key: _Stored(*row) for row in rows}


def _links_of(session: Session, activity_ids: list[int]) -> dict[int, list[Link]]:
    links: dict[int, list[Link]] = defaultdict(list)
    if not activity_ids:
        return links
    rows = session.execute(
        select(
            CrmActivityLink.activity_id,
            CrmActivityLink.record_type,
            CrmActivityLink.record_id,
            CrmActivityLink.role,
        )
        .where(CrmActivityLink.activity_id.in_(activity_ids))
        .order_by(CrmActivityLink.id)
    ).all()
    for activity_id, record_type, rid, role in rows:
        links[activity_id].append(Link(RecordRef(record_type, str(rid)), role))
    return links


def find_activities(session: Session, org_id: int, keys: list[str]) -> dict[str, LoggedActivity]:
    activities = _load(session, org_id, sorted({k for k in keys if k}))
    links = _links_of(session, [a.id for a in activities.values()])
    return {
        key: LoggedActivity(
            id=str(a.id),
            key=key,
            kind=a.kind,  # type: ignore[arg-type]
            created=False,
            links=links.get(a.id, []),
            subject=a.subject,
            cancelled=a.cancelled,
        )
        for key, a in activities.items()
    }


def log_activities(
    session: Session, org_id: int, drafts: list[ActivityDraft], kind: str
) -> list[LoggedActivity]:
    """Write what is missing of these drafts; see the module docstring."""
    if not drafts:
        return []
    _validate(drafts, kind)
    wanted = {link.ref for d in drafts for link in d.links}
    missing = wanted - existing_refs(session, org_id, wanted)
    if missing:
        names = ", ".join(f"{r.type} {r.id}" for r in sorted(missing))
        raise CRMNotFound(f"no such record in this organisation: {names}")

    keys = list(dict.fromkeys(d.key for d in drafts))
    before = _load_stored(session, org_id, keys)
    _check_kinds(before, kind)  # before writing anything, so a refused batch leaves no trace
    first_draft = {d.key: d for d in reversed(drafts)}  # the first draft of each key
    # Sorted by key: concurrent writers then take the unique-index locks in the same order
    # (PostgreSQL), so two overlapping batches wait for each other instead of deadlocking.
    new_rows = [_activity_row(org_id, first_draft[k]) for k in sorted(keys) if k not in before]
    table = CrmActivity.__table__
    inserted = insert_ignoring_duplicates(session, table, new_rows, (table.c.key, table.c.id))
    created_ids = dict(inserted)
    activities: dict[str, _Stored | CrmActivity] = dict(before)
    for row in new_rows:
        if row["key"] in created_ids:
            activities[row["key"]] = _stored_from_row(created_ids[row["key"]], row)
    if len(activities) < len(keys):  # a concurrent writer stored some keys meanwhile
        activities.update(_load_stored(session, org_id, [k for k in keys if k not in activities]))
    _check_kinds(activities, kind)  # a concurrent writer may have used a key for the other kind
    if kind == "meeting":
        activities = _load(session, org_id, keys)  # ORM objects: repeats update them
        _update_meetings(session, activities, drafts)

    # An activity created by this call has no links yet (no one else can see it before the
    # caller commits): only the others are read.
    current = _links_of(session, [a.id for key, a in activities.items() if key not in created_ids])
    link_rows = []
    planned: dict[int, set[Link]] = defaultdict(set)
    for draft in drafts:
        activity = activities[draft.key]
        have = current.get(activity.id, ())
        for link in draft.links:
            if link not in have and link not in planned[activity.id]:
                planned[activity.id].add(link)
                link_rows.append(
                    {
                        "org_id": org_id,
                        "activity_id": activity.id,
                        "record_type": link.ref.type,
                        "record_id": int(link.ref.id),
                        "role": link.role,
                    }
                )
    link_rows.sort(key=lambda r: (r["activity_id"], r["record_type"], r["record_id"], r["role"]))
    links_table = CrmActivityLink.__table__
    columns = (links_table.c.activity_id, links_table.c.record_type, links_table.c.record_id)
    inserted = insert_ignoring_duplicates(
        session, links_table, link_rows, (*columns, links_table.c.role)
    )
    ours = {(a, Link(RecordRef(t, str(r)), role)) for a, t, r, role in inserted}
    # Every planned link now exists: inserted here, or by a concurrent writer (a conflict).
    # In id order: the ones read, then the new ones in insert order.
    after: dict[int, list[Link]] = defaultdict(list, {a: list(ls) for a, ls in current.items()})
    for row in link_rows:
        ref = RecordRef(row["record_type"], str(row["record_id"]))
        after[row["activity_id"]].append(Link(ref, row["role"]))
    touch_records(session, org_id, activities, after)
    return _results(drafts, activities, after, ours, set(created_ids))


def _stored_from_row(activity_id: int, row: dict) -> _Stored:
    return _Stored(
        activity_id, row["key"], row["kind"], row["subject"], row["start"], row["cancelled"]
    )


def _results(drafts, activities, after, ours, created_keys) -> list[LoggedActivity]:
    results: list[LoggedActivity] = []
    reported: set[tuple[int, Link]] = set()
    created_keys = set(created_keys)
    for draft in drafts:
        activity = activities[draft.key]
        # Links this call inserted, reported once: to the first draft that asked for each.
        added = []
        for link in draft.links:
            mark = (activity.id, link)
            if mark in ours and mark not in reported:
                reported.add(mark)
                added.append(link)
        results.append(
            LoggedActivity(
                id=str(activity.id),
                key=draft.key,
                kind=activity.kind,
                created=draft.key in created_keys,
                links=list(after.get(activity.id, [])),
                added_links=added,
                subject=activity.subject,
                cancelled=activity.cancelled,
            )
        )
        created_keys.discard(draft.key)  # a second draft of the same key is a repeat
    return results


def _update_meetings(session, activities, drafts) -> None:
    """A repeated meeting takes the newest subject, times and cancellation (last draft wins)."""
    latest = {d.key: d for d in drafts}
    for key, draft in latest.items():
        activity = activities[key]
        changes = {
            "subject": (draft.subject or "")[:MAX_SUBJECT],
            "start": draft.start,
            "end": draft.end,
            "cancelled": bool(draft.cancelled),
        }
        if any(getattr(activity, name) != value for name, value in changes.items()):
            for name, value in changes.items():
                setattr(activity, name, value)
            activity.updated_at = utcnow()
    session.flush()
