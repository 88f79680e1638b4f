"""One user's sync session (the RQ job): the session's record, its run (sync/runner.py:
token → folders → delta pages → pipeline → commit each page with its link; then the calendar)
and its outcome. Leaves a SyncSession record whatever happens."""

from __future__ import annotations

import logging
import os
import socket
import time

from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import joinedload

from .. import metrics
from ..activity_writer import Writer
from ..auth.app_tokens import AppGrantMissing
from ..auth.identity import user_refused
from ..auth.tokens import NeedsReauth, TokenUnavailable
from ..crm.base import CRMAuthError, CRMBudgetExceeded, CRMError
from ..db import get_session, utcnow
from ..mail.graph import (
    GraphError,
    MailboxOutOfScope,
)
from ..models.sync import SyncSession
from ..models.tenancy import Organisation, User
from .app_mode import out_of_app_scope
from .liveness import Heartbeat, SessionSuperseded, finish, session_writer
from .runner import SessionRunner
from .summary import refresh_summaries

log = logging.getLogger(__name__)


def worker_label() -> str:
    return f"{socket.gethostname()}:{os.getpid()}"


# The user and its organisation; the organisation's domains only if something reads them (the
# policy reads its own in one statement): one statement fewer in every session.
_USER_ONLY = (joinedload(User.organisation).lazyload(Organisation.domains),)


def run_session(user_id: int, trigger: str = "schedule") -> dict:
    """The job: one sync session for one user. Returns the session's summary."""
    db = get_session()
    user = db.get(User, user_id, options=_USER_ONLY)
    if user is None:
        return {"status": "missing"}
    record = SyncSession(
        org_id=user.org_id,
        user_id=user.id,
        trigger=trigger,
        worker=worker_label(),
        status="running",
    )
    if not user.sync_enabled or user_refused(user) or out_of_app_scope(user):
        record.status, record.finished_at = "disabled", utcnow()
        db.add(record)
        db.flush()
        refresh_summaries([user.id], orgs={user.id: user.org_id})
        db.commit()
        metrics.inc("courier_sync_sessions", outcome="disabled")
        return {"status": "disabled"}
    db.add(record)
    try:
        db.flush()
    except IntegrityError:
        # The partial unique index: another session of this mailbox is running.
        db.rollback()
        return {"status": "already_running"}
    # The user's summary in the session row's own transaction: one commit, and never a
    # moment where the session is recorded and its summary not yet.
    refresh_summaries([user.id], orgs={user.id: user.org_id})
    db.commit()
    started = time.monotonic()
    runner = SessionRunner(user, record)
    status, error = "succeeded", ""
    try:
        # The session's ledger claims carry its lease, renewed while it runs and released when
        # it ends or is reaped (liveness.finish / abandon): the tick never re-drives them
        # while the session lives, and the next session takes them over once it is gone.
        with Heartbeat(record.id), Writer(session_writer(record.id)) as writer:
            runner.writer = writer
            runner.run()
    except SessionSuperseded:
        # The reaper closed this session while it ran: its successor owns the mailbox now.
        db.rollback()
        return {"status": "superseded", "session_id": record.id}
    except MailboxOutOfScope as exc:
        # The tenant keeps this mailbox out of the application's scope: health says so, and
        # the scheduler looks again only at the safety poll (no retry storm).
        status, error = "refused", f"{type(exc).__name__}: {exc}"
    except (NeedsReauth, CRMAuthError, AppGrantMissing) as exc:
        # The error names the class: health tells a CRM grant from the Microsoft one by it.
        status, error = "needs_reauth", f"{type(exc).__name__}: {exc}"
    except CRMBudgetExceeded as exc:
        # The CRM's daily allowance: wait for the next session, without counting a failure
        # (pages saved so far keep their links; the rest is read again after the pause).
        status, error = "paused", f"{type(exc).__name__}: {exc}"
    except (TokenUnavailable, GraphError, CRMError) as exc:
        status, error = "failed", f"{type(exc).__name__}: {exc}"
    except Exception as exc:  # recorded, so health shows it; the job itself does not retry
        log.exception("sync session %s failed", record.id)
        status, error = "failed", f"{type(exc).__name__}: {exc}"
    if status != "succeeded":
        db.rollback()
    counts = runner.counts()
    duration_ms = int((time.monotonic() - started) * 1000)
    claimed = runner.writer is None or runner.writer.claimed
    done = finish(
        db, record.id, status, claimed, error=error[:500], duration_ms=duration_ms, **counts
    )
    if not done:
        return {"status": "superseded", "session_id": record.id}
    metrics.inc("courier_sync_sessions", outcome=status)
    metrics.inc("courier_items_saved", counts["saved"], source="sync")
    return {
        "status": status,
        "session_id": record.id,
        "saved": counts["saved"],
        "read": counts["items_read"],
        "error": error[:500],
    }
