"""The "saves" queue: a pane save the CRM could not take right away, and any ledger row whose
writer is gone, written later by an RQ job — through the activity writer's protocol (the job
takes the row's lease by compare-and-set first, so it never writes alongside a live writer)."""

from __future__ import annotations

import uuid
from datetime import timedelta

from rq import Retry
from sqlalchemy import select

from .. import activity_writer, metrics
from ..crm import crm_for
from ..crm.base import CRMBudgetExceeded, CRMError, CRMUnavailable
from ..db import get_session, utcnow
from ..models.ledger import LedgerEntry
from ..models.tenancy import User
from ..queues import enqueue
from .drafts import draft_from_json, with_ledger_links

SAVE_RETRY = Retry(max=6, interval=[10, 30, 60, 300, 900, 3600])
JOB_PATH = "server.pane.save_queue.run_queued_save"
# Ledger states in which a kept draft (LedgerEntry.pending_draft) still has to be written.
WAITING = ("pending", "saved")
# A pending row this old has lost its writer (a worker died, Redis lost its job).
STALE_PENDING = timedelta(minutes=5)


def enqueue_pending_save(ledger_id: int) -> bool:
    """Queue the save's job; False when its job is still queued or running."""
    return (
        enqueue(
            JOB_PATH,
            ledger_id,
            queue="saves",
            job_id=f"pane-save-{ledger_id}",
            retry=SAVE_RETRY,
            timeout=120,
        )
        is not None
    )


def requeue_pending_saves(older_than: timedelta = STALE_PENDING) -> int:
    """Tick hook: queue again every waiting row whose writer is gone — its lease ran out or was
    released (a worker or a session died, Redis lost the job, its retries were used up) — and
    that has not moved for `older_than`; returns how many jobs it queued. A row whose writer
    is still writing, however slowly, is left alone (its lease is being renewed); the unique
    job id keeps a save that is still queued from running twice."""
    session = get_session()
    now = utcnow()
    stale = session.scalars(
        select(LedgerEntry.id).where(
            LedgerEntry.status.in_(WAITING),
            LedgerEntry.pending_draft.is_not(None),
            LedgerEntry.updated_at < now - older_than,
            activity_writer.unheld(now),
        )
    ).all()
    session.commit()
    return sum(enqueue_pending_save(ledger_id) for ledger_id in stale)


def run_queued_save(ledger_id: int) -> str:
    """RQ job: write a waiting row (a queued pane save, or a row the tick re-drives: a dead
    writer's claim, links another writer joined). It first takes the row's lease by
    compare-and-set, so it never writes alongside a live writer. Raises on CRMUnavailable so
    RQ retries it."""
    with activity_writer.Writer(f"save-job:{ledger_id}:{uuid.uuid4().hex[:8]}") as writer:
        return _run_queued_save(writer, ledger_id)


def _run_queued_save(writer: activity_writer.Writer, ledger_id: int) -> str:
    session = get_session()
    entry = session.get(LedgerEntry, ledger_id)
    # "saved" too: the background sync may have saved this email meanwhile with its own
    # links; the user's chosen records must still be added (logging adds only missing links).
    if entry is None or entry.status not in WAITING or entry.user_id is None:
        return "nothing to do"
    if not entry.pending_draft:
        return "nothing to do"
    if not activity_writer.take(session, ledger_id, writer):
        return "being written by another writer"  # the tick comes back if it dies
    entry = session.get(LedgerEntry, ledger_id)
    user = session.get(User, entry.user_id)
    crm = crm_for(user)
    draft = with_ledger_links(draft_from_json(entry.pending_draft), entry.links or [])
    session.commit()  # no transaction open across the CRM call
    write = crm.log_meetings if draft.kind == "meeting" else crm.log_emails
    try:
        logged = write([draft])[0]
    except CRMError as exc:
        session.rollback()
        entry = session.get(LedgerEntry, ledger_id)
        entry.last_error = str(exc)[:500]
        entry.lease_until = None
        if isinstance(exc, CRMUnavailable | CRMBudgetExceeded):
            # RQ retries it; once its retries are used up the row stays pending with its
            # draft, and the tick (or a re-save) queues it again.
            session.commit()
            raise
        entry.status = "failed"
        session.commit()
        return "failed"
    activity_writer.mark_saved(
        session, entry.org_id, entry.crm_target, entry.item_key, logged.id, draft.links
    )
    session.commit()
    metrics.inc("courier_items_saved", source="pane_queue")
    return "saved"
