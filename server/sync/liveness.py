"""A sync session's liveness, independent of how long one page takes.

A thread beats the session's `heartbeat_at` every SYNC_HEARTBEAT_SECONDS while the job runs,
on its own database connection, so a page slowed by Graph retries or a CRM's backoff never
looks like a dead worker to the reaper (SYNC_STALE_SECONDS of silence).

Every status change is a compare-and-set from the state its writer expects: the reaper moves
`running → abandoned` only while the heartbeat is still stale (or the worker's pid is gone),
and the session itself commits pages and its final status only while it is still `running`.
So a reaped session can never overwrite its successor; it stops at its next page instead.
A partial unique index (one `running` row per user) makes two live sessions for one mailbox
impossible in the database itself.
"""

from __future__ import annotations

import logging
import threading
from datetime import datetime, timedelta
from functools import cache

from flask import current_app
from sqlalchemy import bindparam, update
from sqlalchemy.orm import Session

from ..activity_writer import release
from ..db import get_engine, utcnow
from ..models.sync import SyncSession
from .summary import refresh_summaries

log = logging.getLogger(__name__)


def session_writer(session_id: int) -> str:
    """The name a session's ledger claims carry (activity_writer.Writer)."""
    return f"sync:{session_id}"


class SessionSuperseded(RuntimeError):
    """This session was declared dead (reaped) while it still ran: it must stop writing."""


def still_running(db: Session, session_id: int) -> None:
    """Inside the caller's transaction: beat, and lock the row, only if the session is still
    `running`; raise SessionSuperseded otherwise (the caller must roll back)."""
    changed = db.execute(
        update(SyncSession)
        .where(SyncSession.id == session_id, SyncSession.status == "running")
        .values(heartbeat_at=utcnow())
        .execution_options(synchronize_session=False)
    ).rowcount
    if changed != 1:
        raise SessionSuperseded(f"sync session {session_id} is no longer running")


def finish(db: Session, session_id: int, status: str, claimed: bool = True, **values) -> bool:
    """`running → status` with the session's figures; False (nothing written) when the
    session is no longer running because the reaper closed it meanwhile. `claimed=False`:
    the session's writer claimed no ledger row, so it has none to release."""
    figures = {"status": status, "finished_at": utcnow(), **values}
    params = {f"new_{name}": value for name, value in figures.items()}
    statement = _finish_statement(tuple(figures))
    owner = db.execute(statement, {"finished_id": session_id, **params}).first()
    if owner is not None:
        if claimed:  # what it left pending is free for the tick now
            release(db, session_writer(session_id))
        _follow_in_summary(owner)
    db.commit()
    return owner is not None


@cache
def _finish_statement(names: tuple[str, ...]):
    """Built once per set of figures, their values bound at execution (as in policy/store):
    on every session's end, building it cost more CPU than running it."""
    return (
        update(SyncSession)
        .where(SyncSession.id == bindparam("finished_id"), SyncSession.status == "running")
        .values({name: bindparam(f"new_{name}") for name in names})
        .returning(SyncSession.user_id, SyncSession.org_id)
        .execution_options(synchronize_session=False)
    )


def abandon(db: Session, session_id: int, stale_before: datetime | None) -> bool:
    """The reaper's `running → abandoned`: only while the heartbeat is older than
    `stale_before` (None: the worker process is known to be gone). Commits."""
    query = update(SyncSession).where(SyncSession.id == session_id, SyncSession.status == "running")
    if stale_before is not None:
        query = query.where(SyncSession.heartbeat_at < stale_before)
    owner = db.execute(
        query.values(
            status="abandoned",
            finished_at=utcnow(),
            error="the worker running this session stopped",
        )
        .returning(SyncSession.user_id, SyncSession.org_id)
        .execution_options(synchronize_session=False)
    ).first()
    if owner is not None:  # its claims are free at once: the next session takes them over
        release(db, session_writer(session_id))
        _follow_in_summary(owner)
    db.commit()
    return owner is not None


def _follow_in_summary(owner) -> None:
    """The user's sync summary follows every outcome, in the same transaction as the status
    change (one commit; the summary is never behind a committed status)."""
    user_id, org_id = owner
    refresh_summaries([user_id], orgs={user_id: org_id})


class Heartbeat:
    """Beats `heartbeat_at` of a running session from a daemon thread until stopped.
    `lost` is set once the session is found no longer running (reaped)."""

    def __init__(self, session_id: int, interval: float | None = None):
        self.session_id = session_id
        self.interval = float(interval or current_app.config["SYNC_HEARTBEAT_SECONDS"])
        self.engine = get_engine()
        self.lost = threading.Event()
        self._stop = threading.Event()
        self._thread = threading.Thread(
            target=self._run, name=f"sync-heartbeat-{session_id}", daemon=True
        )

    def __enter__(self) -> Heartbeat:
        self._thread.start()
        return self

    def __exit__(self, *_exc) -> None:
        self._stop.set()
        self._thread.join(timeout=self.interval + 30)

    def _run(self) -> None:
        while not self._stop.wait(self.interval):
            try:
                with self.engine.begin() as conn:
                    changed = conn.execute(
                        update(SyncSession)
                        .where(SyncSession.id == self.session_id, SyncSession.status == "running")
                        .values(heartbeat_at=utcnow())
                    ).rowcount
            except Exception:  # a missed beat is retried next time; the page commit beats too
                log.warning("sync heartbeat %s failed", self.session_id, exc_info=True)
                continue
            if changed != 1:
                self.lost.set()
                return


def stale_cutoff(now: datetime) -> datetime:
    return now - timedelta(seconds=current_app.config["SYNC_STALE_SECONDS"])
