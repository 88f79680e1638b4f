"""The activity writer: the one protocol by which an email or a meeting reaches the CRM
exactly once — pane saves, queued saves, sync emails and sync meetings (DESIGN.md, "Data that
must never go wrong"):

1. `claim`: insert the ledger rows as `pending`, with the draft kept (`INSERT … ON CONFLICT DO
   NOTHING RETURNING`), stamped with the writer and its lease, and commit. A row that already
   exists belongs to whoever holds it: only the writer whose insert (or compare-and-set
   takeover) returned the key writes it to the CRM, so two writers (two users' sessions
   sharing an email or a meeting, a pane save racing the sync) never both create it. A
   pending row is taken over only when its writer's lease has run out (or was released: the
   writer ended), and a failed row always (nobody is writing it).
2. The caller writes the claimed items to the CRM by our key — with no transaction open —
   inside `with Writer(...)`, whose thread renews the lease however long the CRM takes.
3. `mark_saved`: the row becomes `saved` with the activity id and the links really written,
   and the lease ends; the draft is dropped unless someone added links meanwhile.

A writer that lost the claim on a row still pending hands its links to the row (`join`): the
row keeps a draft with every link, and the tick (`requeue_pending_saves`) re-drives it once its
writer's lease is over (`take` lets exactly one job write it). A row that exists and is saved
is written again by key (the CRM adds the missing links or, for a meeting, its changes).
"""

from __future__ import annotations

import logging
import os
import socket
import threading
import uuid
from collections.abc import Iterable
from datetime import datetime, timedelta
from typing import Any

from flask import current_app, has_app_context
from sqlalchemy import and_, bindparam, or_, select, update
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.orm import Session

from .crm.base import ActivityDraft, Link
from .db import get_engine, utcnow
from .models.ledger import LedgerEntry
from .pane.drafts import draft_to_json, link_dicts

log = logging.getLogger(__name__)
LEDGER = LedgerEntry.__table__
DEFAULT_LEASE_SECONDS = 120


def lease_seconds() -> float:
    if has_app_context():
        return float(current_app.config.get("WRITER_LEASE_SECONDS", DEFAULT_LEASE_SECONDS))
    return float(DEFAULT_LEASE_SECONDS)


class Writer:
    """One writer of the ledger and its lease on the rows it claimed: a daemon thread renews
    `lease_until` of its pending rows every quarter of the lease, on its own connection, until
    the block ends; so a writer is taken for dead only once it stopped beating (its process
    died) or released its rows, never because one CRM call was slow."""

    def __init__(self, name: str = "", seconds: float | None = None):
        self.id = name or f"{socket.gethostname()[:24]}:{os.getpid()}:{uuid.uuid4().hex[:12]}"
        self.seconds = float(seconds or lease_seconds())
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        # Whether any row may carry this writer's lease: every claim stamps its rows with
        # `until()`. A writer that never claimed has nothing to release when it ends.
        self.claimed = False

    def until(self) -> datetime:
        self.claimed = True
        return utcnow() + timedelta(seconds=self.seconds)

    def __enter__(self) -> Writer:
        engine = get_engine()
        self._thread = threading.Thread(
            target=self._run, args=(engine,), name=f"writer-lease-{self.id}", daemon=True
        )
        self._thread.start()
        return self

    def __exit__(self, *_exc) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout=30)

    def _run(self, engine) -> None:
        while not self._stop.wait(self.seconds / 4):
            try:
                with engine.begin() as conn:
                    conn.execute(
                        update(LEDGER)
                        .where(LEDGER.c.writer == self.id, LEDGER.c.status == "pending")
                        .values(lease_until=self.until())
                    )
            except Exception:  # a missed renewal is retried next time, well within the lease
                log.warning("ledger lease renewal for %s failed", self.id, exc_info=True)


def _writer(writer: Writer | None) -> Writer:
    # A caller that names no writer gets a lease nobody renews: its rows count as held for
    # one lease, then the tick may re-drive them (the pre-lease behaviour).
    return writer if writer is not None else Writer()


def is_held(entry: LedgerEntry, now: datetime | None = None) -> bool:
    """Whether a live writer holds this row (its lease has not run out)."""
    return entry.lease_until is not None and entry.lease_until > (now or utcnow())


def unheld(now: datetime):
    """SQL: the row's writer is gone (no lease, or an expired one)."""
    return or_(LedgerEntry.lease_until.is_(None), LedgerEntry.lease_until < now)


CLAIM_CHUNK = 500


def pending_row(
    *,
    org_id: int,
    user_id: int,
    target: str,
    source: str,
    draft: ActivityDraft,
    conversation_id: str = "",
    participants: Iterable[str] = (),
) -> dict[str, Any]:
    now = utcnow()
    return {
        "org_id": org_id,
        "user_id": user_id,
        "item_key": draft.key,
        "kind": draft.kind,
        "crm_target": target,
        "status": "pending",
        "source": source,
        "activity_id": None,
        "conversation_id": (conversation_id or "")[:512],
        "subject": draft.subject[:255],
        "participants": list(participants)[:200],
        "links": link_dicts(draft.links),
        "pending_draft": draft_to_json(draft),
        "last_error": "",
        "item_at": draft.start,
        "created_at": now,
        "updated_at": now,
    }


def claim(db: Session, rows: list[dict[str, Any]], writer: Writer | None = None) -> set[str]:
    """Insert `rows` as pending claims of `writer` and commit; returns the keys this writer now
    owns: those it inserted, and — by compare-and-set, so one writer wins — rows whose writer
    is gone (lease over or released), its own, and rows whose write failed for good."""
    if not rows:
        return set()
    writer = _writer(writer)
    until = writer.until()
    rows = [{**row, "writer": writer.id, "lease_until": until} for row in rows]
    module = postgresql if db.get_bind().dialect.name == "postgresql" else sqlite
    stmt = module.insert(LEDGER).on_conflict_do_nothing().returning(LEDGER.c.item_key)
    owned: set[str] = set()
    for start in range(0, len(rows), CLAIM_CHUNK):
        owned.update(db.execute(stmt, rows[start : start + CLAIM_CHUNK]).scalars().all())
    lost = [row for row in rows if row["item_key"] not in owned]
    if lost:
        owned.update(_take_over(db, lost, writer.id, until))
    db.commit()
    return owned


def _take_over(db: Session, rows: list[dict[str, Any]], writer_id: str, until) -> set[str]:
    """Compare-and-set the existing rows of `rows` nobody is writing over to `writer_id`.
    PostgreSQL re-checks the condition on the locked row, SQLite has one writer at a time:
    of two writers taking over one row, one gets it."""
    first, now = rows[0], utcnow()
    taken: set[str] = set()
    keys = [row["item_key"] for row in rows]
    for start in range(0, len(keys), CLAIM_CHUNK):
        taken.update(
            db.execute(
                update(LEDGER)
                .where(
                    LEDGER.c.org_id == first["org_id"],
                    LEDGER.c.crm_target == first["crm_target"],
                    LEDGER.c.item_key.in_(keys[start : start + CLAIM_CHUNK]),
                    or_(
                        LEDGER.c.status == "failed",  # nobody is writing it
                        and_(
                            LEDGER.c.status == "pending",
                            or_(
                                LEDGER.c.writer == writer_id,
                                LEDGER.c.lease_until.is_(None),
                                LEDGER.c.lease_until < now,
                            ),
                        ),
                    ),
                )
                .values(status="pending", writer=writer_id, lease_until=until, updated_at=now)
                .returning(LEDGER.c.item_key)
            )
            .scalars()
            .all()
        )
    # A taken-over row keeps a draft to re-drive should this writer die too.
    drafts = [
        {"k": row["item_key"], "d": row["pending_draft"]}
        for row in rows
        if row["item_key"] in taken
    ]
    if drafts:
        db.execute(
            update(LEDGER)
            .where(
                LEDGER.c.org_id == first["org_id"],
                LEDGER.c.crm_target == first["crm_target"],
                LEDGER.c.item_key == bindparam("k"),
                LEDGER.c.pending_draft.is_(None),
            )
            .values(pending_draft=bindparam("d")),
            drafts,
        )
    return taken


def take(db: Session, ledger_id: int, writer: Writer) -> bool:
    """A queued save's compare-and-set: `writer` holds this row if nobody else does (commits).
    A row being written by a live writer is left to it; False then."""
    now = utcnow()
    changed = db.execute(
        update(LEDGER)
        .where(
            LEDGER.c.id == ledger_id,
            LEDGER.c.pending_draft.is_not(None),
            or_(
                LEDGER.c.writer == writer.id,
                LEDGER.c.lease_until.is_(None),
                LEDGER.c.lease_until < now,
            ),
        )
        .values(writer=writer.id, lease_until=writer.until())
    ).rowcount
    db.commit()
    return changed == 1


def release(db, writer_id: str) -> int:
    """The writer `writer_id` has stopped (a sync session ended or was reaped): its rows still
    pending are free for the next writer and the tick at once. In the caller's transaction."""
    return db.execute(
        update(LEDGER)
        .where(LEDGER.c.writer == writer_id, LEDGER.c.lease_until.is_not(None))
        .values(lease_until=None)
    ).rowcount


def reclaim_removed(
    db: Session, entry_id: int, user_id: int, draft: ActivityDraft, writer: Writer | None = None
) -> bool:
    """The user's own save of an email they removed from the CRM: the row becomes their
    pending claim again, held by `writer` (one conditional update, so two saves cannot both
    win); commits."""
    writer = _writer(writer)
    claimed = db.execute(
        update(LedgerEntry)
        .where(LedgerEntry.id == entry_id, LedgerEntry.status == "removed")
        .values(
            status="pending",
            source="manual",
            user_id=user_id,
            links=link_dicts(draft.links),
            pending_draft=draft_to_json(draft),
            last_error="",
            writer=writer.id,
            lease_until=writer.until(),
            updated_at=utcnow(),
        )
    ).rowcount
    db.commit()
    return claimed == 1


def _entry(db: Session, org_id: int, target: str, key: str) -> LedgerEntry | None:
    return db.scalar(
        select(LedgerEntry)
        .where(
            LedgerEntry.org_id == org_id,
            LedgerEntry.crm_target == target,
            LedgerEntry.item_key == key,
        )
        .with_for_update()
    )


def mark_saved(
    db: Session,
    org_id: int,
    target: str,
    key: str,
    activity_id: str,
    links: list[Link],
    linked: list[Link] | None = None,
) -> None:
    """The claimed row is saved (in the caller's transaction). `links` are what this writer
    asked for, `linked` what the CRM holds of them (all by default): a CRM may hold fewer
    (Salesforce relates an email to one account or opportunity), and the row keeps only what
    the CRM holds, so the pane's ticks never claim a link that does not exist. Links another
    writer joined while we wrote stay in the draft, so the tick adds them."""
    entry = _entry(db, org_id, target, key)
    if entry is None:
        return
    asked = {(d["type"], str(d["id"])) for d in link_dicts(links)}
    held = link_dicts(links if linked is None else linked)
    joined = [d for d in entry.links or [] if (d["type"], str(d["id"])) not in asked]
    entry.status = "saved"
    entry.activity_id = str(activity_id)
    entry.links = held + [d for d in joined if d not in held]
    entry.last_error = ""
    entry.lease_until = None
    if not joined:
        entry.pending_draft = None


def join(db: Session, org_id: int, target: str, draft: ActivityDraft) -> bool:
    """Hand `draft`'s links to the row another writer claimed (in the caller's transaction):
    its draft gains them, so they are written by key by the tick if the owner has already
    written without them. False when the row has every link already."""
    entry = _entry(db, org_id, target, draft.key)
    if entry is None or entry.status == "removed":  # removed by the user: not written again
        return False
    have = {(d["type"], str(d["id"])) for d in entry.links or []}
    more = [d for d in link_dicts(draft.links) if (d["type"], str(d["id"])) not in have]
    if not more:
        return False
    entry.links = [*(entry.links or []), *more]
    if entry.pending_draft is None:
        entry.pending_draft = draft_to_json(draft)
    entry.updated_at = utcnow()
    return True
