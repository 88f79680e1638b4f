"""Reading and writing the idempotency ledger for the sync (nothing here commits)."""

from __future__ import annotations

from collections.abc import Iterable, Iterator

from sqlalchemy import delete, select
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.orm import Session

from ..db import utcnow
from ..models.ledger import LedgerEntry, ThreadRule
from ..models.sync import CalendarEventKey, MeetingSnapshot

CHUNK = 500


def _chunks(values: list) -> Iterator[list]:
    """IN-lists of at most CHUNK values (SQLite's and PostgreSQL's parameter limits)."""
    for start in range(0, len(values), CHUNK):
        yield values[start : start + CHUNK]


def crm_target(crm) -> str:
    """The ledger's name for this CRM: "builtin", or the adapter's own target (e.g.
    "salesforce:<org id>") when it declares one."""
    return str(getattr(crm, "ledger_target", "") or crm.name)


def entries(db: Session, org_id: int, target: str, keys: Iterable[str]) -> dict[str, LedgerEntry]:
    wanted = sorted(set(keys))
    out: dict[str, LedgerEntry] = {}
    for part in _chunks(wanted):
        for row in db.scalars(
            select(LedgerEntry).where(
                LedgerEntry.org_id == org_id,
                LedgerEntry.crm_target == target,
                LedgerEntry.item_key.in_(part),
            )
        ):
            out[row.item_key] = row
    return out


def thread_rules(db: Session, user_id: int, conversation_ids: Iterable[str]) -> dict[str, list]:
    wanted = sorted({c for c in conversation_ids if c})
    out: dict[str, list] = {}
    for part in _chunks(wanted):
        for rule in db.scalars(
            select(ThreadRule).where(
                ThreadRule.user_id == user_id,
                ThreadRule.enabled.is_(True),
                ThreadRule.conversation_id.in_(part),
            )
        ):
            out[rule.conversation_id] = list(rule.links or [])
    return out


def snapshots(db: Session, org_id: int, target: str, keys: Iterable[str]) -> dict[str, str]:
    wanted = sorted(set(keys))
    out: dict[str, str] = {}
    for part in _chunks(wanted):
        for key, fingerprint in db.execute(
            select(MeetingSnapshot.item_key, MeetingSnapshot.fingerprint).where(
                MeetingSnapshot.org_id == org_id,
                MeetingSnapshot.crm_target == target,
                MeetingSnapshot.item_key.in_(part),
            )
        ):
            out[key] = fingerprint
    return out


def put_snapshot(db: Session, org_id: int, target: str, key: str, fingerprint: str) -> None:
    dialect = db.get_bind().dialect.name
    module = postgresql if dialect == "postgresql" else sqlite
    stmt = module.insert(MeetingSnapshot).values(
        org_id=org_id, item_key=key, crm_target=target, fingerprint=fingerprint, updated_at=utcnow()
    )
    db.execute(
        stmt.on_conflict_do_update(
            index_elements=["org_id", "item_key", "crm_target"],
            set_={"fingerprint": fingerprint, "updated_at": utcnow()},
        )
    )


# --- calendar event ids -> meeting keys (for Graph's "@removed", which carries only an id) ---


def put_event_keys(db: Session, org_id: int, user_id: int, events: list) -> None:
    """Remember (event id -> key, subject, times) for these (Event, key) pairs."""
    rows = {
        event.id: {
            "org_id": org_id,
            "user_id": user_id,
            "event_id": event.id[:512],
            "item_key": key,
            "series_master_id": (event.series_master_id or "")[:512],
            "subject": event.subject[:255],
            "start": event.start,
            "end": event.end,
            "updated_at": utcnow(),
        }
        for event, key in events
        if event.id
    }
    if not rows:
        return
    module = postgresql if db.get_bind().dialect.name == "postgresql" else sqlite
    stmt = module.insert(CalendarEventKey)
    db.execute(
        stmt.on_conflict_do_update(
            index_elements=["user_id", "event_id"],
            set_={
                name: getattr(stmt.excluded, name)
                for name in (
                    "item_key",
                    "series_master_id",
                    "subject",
                    "start",
                    "end",
                    "updated_at",
                )
            },
        ),
        list(rows.values()),
    )


def event_keys(db: Session, user_id: int, event_ids: Iterable[str]) -> dict[str, CalendarEventKey]:
    return _event_keys_where(db, user_id, CalendarEventKey.event_id, event_ids)


def occurrence_keys(
    db: Session, user_id: int, master_ids: Iterable[str]
) -> dict[str, CalendarEventKey]:
    """The occurrences (and exceptions) of these series masters this user's sync linked, by
    their own event id."""
    return _event_keys_where(db, user_id, CalendarEventKey.series_master_id, master_ids)


def _event_keys_where(
    db: Session, user_id: int, column, values: Iterable[str]
) -> dict[str, CalendarEventKey]:
    """This user's event-id rows whose `column` is one of `values`, by event id."""
    wanted = sorted({v for v in values if v})
    out: dict[str, CalendarEventKey] = {}
    for part in _chunks(wanted):
        for row in db.scalars(
            select(CalendarEventKey).where(CalendarEventKey.user_id == user_id, column.in_(part))
        ):
            out[row.event_id] = row
    return out


def drop_event_keys(db: Session, user_id: int, event_ids: list[str]) -> None:
    for part in _chunks(event_ids):
        db.execute(
            delete(CalendarEventKey).where(
                CalendarEventKey.user_id == user_id,
                CalendarEventKey.event_id.in_(part),
            )
        )


def keys_held_by_others(db: Session, org_id: int, user_id: int, keys: list[str]) -> set[str]:
    """Meeting keys still in another user's calendar in this organisation."""
    found: set[str] = set()
    for part in _chunks(keys):
        found.update(
            db.scalars(
                select(CalendarEventKey.item_key).where(
                    CalendarEventKey.org_id == org_id,
                    CalendarEventKey.user_id != user_id,
                    CalendarEventKey.item_key.in_(part),
                )
            )
        )
    return found
