"""One user's sync session (the RQ job): token → folders → delta pages → pipeline → commit the
page with its link; then the calendar. Leaves a SyncSession record whatever happens."""

from __future__ import annotations

import logging
import os
import socket
import time
from collections import Counter
from collections.abc import Callable
from concurrent.futures import Future, ThreadPoolExecutor
from datetime import UTC, datetime, timedelta

from flask import current_app
from sqlalchemy import select
from sqlalchemy.exc import IntegrityError

from .. import metrics
from ..activity_writer import Writer
from ..auth.app_tokens import AppGrantMissing
from ..auth.identity import user_refused
from ..auth.tokens import NeedsReauth, TokenUnavailable
from ..crm import crm_for
from ..crm.base import CRMAuthError, CRMBudgetExceeded, CRMError
from ..db import get_session, utcnow
from ..mail.graph import (
    DeltaPage,
    DeltaStateLost,
    GraphAuthError,
    GraphClient,
    GraphError,
    MailboxOutOfScope,
    calendar_window,
    shared_http_session,
)
from ..models.sync import CALENDAR, SyncSession, SyncState
from ..models.tenancy import User
from ..policy import effective_policy, remembered_choices
from ..rules.defaults import NEVER_READ_FOLDERS
from ..rules.policy import folder_key
from . import threads
from .app_mode import out_of_app_scope
from .counting import CountingCRM
from .jobs import rerun_requested
from .liveness import Heartbeat, SessionSuperseded, finish, session_writer, still_running
from .pipeline import PageResult, Pipeline
from .session_token import session_token, token_after_refusal
from .summary import record_session_change

log = logging.getLogger(__name__)
# Extra reads one session makes for notifications that came while it ran (then it yields).
MAX_EXTRA_PASSES = 3


def worker_label() -> str:
    return f"{socket.gethostname()}:{os.getpid()}"


def run_session(user_id: int, trigger: str = "schedule") -> dict:
    """The job: one sync session for one user. Returns the session's summary."""
    db = get_session()
    user = db.get(User, user_id)
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
        db.commit()
        record_session_change(user.id)
        metrics.inc("courier_sync_sessions", outcome="disabled")
        return {"status": "disabled"}
    db.add(record)
    try:
        db.commit()
    except IntegrityError:
        # The partial unique index: another session of this mailbox is running.
        db.rollback()
        return {"status": "already_running"}
    record_session_change(user.id)
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
    if not finish(db, record.id, status, error=error[:500], duration_ms=duration_ms, **counts):
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


class SessionRunner:
    def __init__(self, user: User, record: SyncSession):
        self.db = get_session()
        self.user = user
        self.record = record
        self.config = current_app.config
        self.totals = PageResult()
        self.client: GraphClient | None = None
        self.crm: CountingCRM | None = None
        self._fresh_totals: set[str] = set()  # folders whose count was read this session
        self.writer: Writer | None = None  # the session's ledger lease (set by run_session)

    # --- bookkeeping -------------------------------------------------------------------

    def counts(self) -> dict:
        t = self.totals
        return {
            "items_read": t.read,
            "saved": t.saved,
            "created": t.created,
            "errors": t.errors,
            "skipped": t.skipped,
            "counts": dict(sorted(Counter(t.counts).items())),
            "graph_requests": self.client.stats.requests if self.client else 0,
            "crm_calls": self.crm.calls if self.crm else 0,
        }

    def _add(self, result: PageResult) -> None:
        t = self.totals
        t.read += result.read
        t.saved += result.saved
        t.created += result.created
        t.errors += result.errors
        t.counts.update(result.counts)

    def _commit_page(self, state: SyncState, result: PageResult, link: str, done: bool) -> None:
        """The page's saves, its link and the session's progress: one transaction, committed
        only while this session is still the mailbox's running one."""
        self._add(result)
        state.resume_link = link
        if done:
            state.initial_done = True
        if not (result.read or result.saved or result.errors or not done):
            # A round that ended with nothing in it: its link is written with the next commit
            # (or the session's last); lost in a crash, it only means an empty re-read.
            return
        still_running(self.db, self.record.id)
        for name, value in self.counts().items():
            setattr(self.record, name, value)
        self.db.commit()

    # --- the run -----------------------------------------------------------------------

    def run(self) -> None:
        cfg = self.config
        self.client = GraphClient(
            cfg["GRAPH_BASE_URL"],
            session_token(self.user),
            self.user.object_id,
            session=shared_http_session(),
            timeout=float(cfg["HTTP_TIMEOUT_SECONDS"]),
            page_size=cfg["GRAPH_PAGE_SIZE"],
            max_retries=cfg["GRAPH_MAX_RETRIES"],
            backoff_base=cfg["GRAPH_BACKOFF_BASE_MS"] / 1000,
            max_wait=float(cfg["GRAPH_MAX_WAIT_SECONDS"]),
        )
        states = {
            s.folder: s
            for s in self.db.scalars(select(SyncState).where(SyncState.user_id == self.user.id))
        }
        if not states:
            self._learn_aliases()
        policy = effective_policy(self.user)
        self.crm = CountingCRM(crm_for(self.user))
        pipeline = Pipeline(
            self.db, self.user, self.crm, policy, remembered_choices, writer=self.writer
        )
        folders = self._folders(policy, states)
        self.record.initial = any(not s.initial_done for s in folders)
        self.record.estimate = sum(s.estimate for s in folders if not s.initial_done)
        self.db.commit()
        since = utcnow() - timedelta(days=policy.history_days)
        rerun_requested(self.user.id)  # what was asked before this read is read now
        # The first page of every round already under way, in one $batch call: an idle
        # session costs one request.
        first_pages = self._first_pages(folders, states.get(CALENDAR), policy, since)
        for _ in range(1 + MAX_EXTRA_PASSES):
            for state in folders:
                self._sync_folder(state, pipeline, since, first_pages.pop(state.folder, None))
            self._sync_threads(pipeline, folders, since, policy)
            if policy.meetings_enabled:
                self._sync_calendar(states, pipeline, first_pages.pop(CALENDAR, None))
            # A notification that came while we read may be about a folder already done.
            if not rerun_requested(self.user.id):
                break
        if cfg["SYNC_WEBHOOKS_ENABLED"]:
            from .webhooks import ensure_subscriptions

            ensure_subscriptions(self.client, self.user)

    def _sync_threads(self, pipeline: Pipeline, folders, since: datetime, policy) -> None:
        """The earlier emails of threads switched on for auto-save (server/sync/threads.py),
        each thread committed with what it saved."""
        if policy.auto_save == "off":
            return  # thread rules save nothing then; they are read once it is back on
        for rule in threads.pending_rules(self.db, self.user.id):
            result = self._call(
                threads.backfill_rule,
                self.client,
                rule,
                folders,
                since,
                pipeline.process_messages,
            )
            self._add(result)
            still_running(self.db, self.record.id)
            for name, value in self.counts().items():
                setattr(self.record, name, value)
            self.db.commit()

    def _call(self, fn, *args):
        """A Graph call; a refused token is refreshed once (it may have been revoked early)."""
        try:
            return fn(*args)
        except GraphAuthError as exc:
            self.client.token = token_after_refusal(self.user, self.client.token, exc)
            return fn(*args)

    def _learn_aliases(self) -> None:
        addresses = self._call(self.client.user_addresses)
        aliases = sorted(a for a in addresses if a != (self.user.email or "").lower())
        if aliases != sorted(self.user.aliases or []):
            self.user.aliases = aliases
            self.db.commit()

    def _folders(self, policy, states: dict[str, SyncState]) -> list[SyncState]:
        wanted = [
            f
            for f in dict.fromkeys(folder_key(f) for f in policy.folders)
            if f not in NEVER_READ_FOLDERS
        ]
        missing = [f for f in wanted if f not in states or not states[f].folder_id]
        if missing:
            names = {folder_key(f): f for f in policy.folders}
            for folder in self._call(self.client.resolve_folders, [names[f] for f in missing]):
                key = folder_key(folder.name)
                state = states.get(key)
                if state is None:
                    state = states[key] = SyncState(
                        org_id=self.user.org_id, user_id=self.user.id, folder=key
                    )
                    self.db.add(state)
                state.folder_id, state.folder_name, state.estimate = (
                    folder.id,
                    folder.name,
                    folder.total,
                )
                self._fresh_totals.add(key)
            self.db.commit()
        return [states[f] for f in wanted if f in states and states[f].folder_id]

    def _first_pages(
        self, folders: list[SyncState], calendar: SyncState | None, policy, since: datetime
    ) -> dict[str, DeltaPage]:
        links = {s.folder: (s.resume_link, s.folder_name) for s in folders if s.resume_link}
        calendar_link = None
        if (
            policy.meetings_enabled
            and calendar is not None
            and calendar.resume_link
            and (calendar.window_start, calendar.window_end) == self._calendar_window()
        ):
            calendar_link = calendar.resume_link
        try:
            return self.client.delta_first_pages(links, calendar_link, since)
        except GraphError:
            return {}  # each round then reads its first page alone

    def _calendar_window(self) -> tuple[datetime, datetime]:
        cfg = self.config
        return calendar_window(
            datetime.now(UTC), cfg["SYNC_CALENDAR_PAST_DAYS"], cfg["SYNC_CALENDAR_FUTURE_DAYS"]
        )

    def _sync_folder(
        self,
        state: SyncState,
        pipeline: Pipeline,
        since: datetime,
        first_page: DeltaPage | None = None,
    ) -> None:
        def first() -> str:
            # Whether the window's filter is safe depends on the folder's size now: one
            # request, only when a full round starts and the count was not read this session.
            if state.folder not in self._fresh_totals:
                state.estimate = self._call(self.client.folder_total, state.folder_id)
                self._fresh_totals.add(state.folder)
            return self.client.message_delta_url(state.folder_id, since, state.estimate)

        def fetch(url: str) -> DeltaPage:
            return self.client.message_delta_page(url, state.folder_name, since)

        def process(page: DeltaPage) -> PageResult:
            return pipeline.process_messages(page.items, state.folder_id)

        self._read_rounds(state, first, fetch, process, first_page)

    def _sync_calendar(
        self,
        states: dict[str, SyncState],
        pipeline: Pipeline,
        first_page: DeltaPage | None = None,
    ) -> None:
        start, end = self._calendar_window()
        state = states.get(CALENDAR)
        if state is None:
            state = states[CALENDAR] = SyncState(
                org_id=self.user.org_id, user_id=self.user.id, folder=CALENDAR, folder_name=CALENDAR
            )
            self.db.add(state)
        if state.window_start != start or state.window_end != end:
            # The window is frozen into the delta link: moving it is a new baseline.
            state.window_start, state.window_end, state.resume_link = start, end, ""
        # Committed before any CRM call, like the folders' states: an open write here would
        # hold SQLite's lock while the CRM adapter writes its own rows (budget, connection).
        self.db.commit()

        def process(page: DeltaPage) -> PageResult:
            result = pipeline.process_events(page.items)
            if page.removed:
                # Meetings updated for removals count as saved, like any other meeting update.
                removed = pipeline.process_removed_events(page.removed, self.client.get_events)
                result.saved += removed.saved
                result.errors += removed.errors
                result.counts.update(removed.counts)
            return result

        first = self.client.calendar_delta_url(start, end)
        if not state.resume_link:
            first_page = None  # the batched page was of the window that just moved
        self._read_rounds(state, lambda: first, self.client.event_delta_page, process, first_page)

    def _read_rounds(
        self,
        state: SyncState,
        first: Callable[[], str],
        fetch,
        process,
        first_page: DeltaPage | None = None,
    ) -> None:
        """Pages from the stored link (or `first()`) to the round's delta link. The next page
        is fetched while this one is saved (2 of the mailbox's 4 requests in flight); each
        page is committed with its link. A lost delta state restarts once from `first()`.
        `first_page` is the stored link's page when it was already read (in a batch)."""
        url = state.resume_link or first()
        restarted = refreshed = False
        with ThreadPoolExecutor(max_workers=1, thread_name_prefix="graph-prefetch") as pool:
            if first_page is not None and state.resume_link:
                pending: Future = Future()
                pending.set_result(first_page)
            else:
                pending = pool.submit(fetch, url)
            while pending is not None:
                try:
                    page = pending.result()
                except DeltaStateLost:
                    if restarted:
                        raise
                    restarted = True  # a full re-read of the window; the ledger stops repeats
                    state.full_reads += 1
                    self.record.full_reads += 1
                    url = first()
                    pending = pool.submit(fetch, url)
                    continue
                except GraphAuthError as exc:
                    if refreshed:
                        raise
                    refreshed = True  # the token may have been revoked early: refresh once
                    self.client.token = token_after_refusal(self.user, self.client.token, exc)
                    pending = pool.submit(fetch, url)
                    continue
                url = page.next_link or ""
                pending = pool.submit(fetch, url) if url else None
                result = process(page)
                for skipped in page.skipped:
                    result.counts[f"invalid_{skipped.reason}"] += 1
                result.counts.update(page.ignored)
                result.read += len(page.skipped) + sum(page.ignored.values())
                link = page.next_link or page.delta_link or ""
                self._commit_page(state, result, link, done=bool(page.delta_link))
