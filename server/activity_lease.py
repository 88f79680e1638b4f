"""The activity writer's leases (server/activity_writer.py): which writer holds a ledger row it
claimed, and for how long. A writer renews its lease from a daemon thread while it writes, so
it is taken for dead only once it stopped beating or released its rows."""

from __future__ import annotations

import logging
import os
import socket
import threading
import uuid
from datetime import datetime, timedelta

from flask import current_app, has_app_context
from sqlalchemy import or_, update

from .db import get_engine, utcnow
from .models.ledger import LedgerEntry

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


def is_held(entry: LedgerEntry, now: datetime | None = None) -> bool:
    """Whether a live writer holds this row (its lease has not run out)."""
    return entry.lease_until is not None and entry.lease_until > (now or utcnow())


def unheld(now: datetime):
    """SQL: the row's writer is gone (no lease, or an expired one)."""
    return or_(LedgerEntry.lease_until.is_(None), LedgerEntry.lease_until < now)


def release(db, writer_id: str) -> int:
    """The writer `writer_id` has stopped (a sync session ended or was reaped): its rows still
    pending are free for the next writer and the tick at once. In the caller's transaction."""
    return db.execute(
        update(LEDGER)
        .where(LEDGER.c.writer == writer_id, LEDGER.c.lease_until.is_not(None))
        .values(lease_until=None)
    ).rowcount
