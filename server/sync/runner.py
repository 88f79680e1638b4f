"""The run of one sync session (SessionRunner, driven by sync/session.run_session): the
Graph client, the folders to read and their states, the policy and the CRM, each round's
first page in one `$batch`, the thread back-fill and the subscriptions; every page committed
with its progress while the session is still the mailbox's running one. Reading the delta
rounds page by page is sync/rounds.py."""

from __future__ import annotations

import logging
from collections import Counter
from datetime import datetime, timedelta

from flask import current_app
from sqlalchemy import select

from ..activity_writer import Writer
from ..crm import crm_for
from ..db import get_session, utcnow
from ..http import shared_http_session
from ..mail.graph import (
    GraphAuthError,
    GraphClient,
)
from ..models.sync import CALENDAR, SyncSession, SyncState
from ..models.tenancy import User
from ..policy import effective_policy, remembered_choices
from ..rules.defaults import NEVER_READ_FOLDERS
from ..rules.policy import folder_key
from . import threads
from .counting import CountingCRM
from .jobs import rerun_requested
from .liveness import still_running
from .pipeline import PageResult, Pipeline
from .rounds import RoundReader
from .session_token import session_token, token_after_refusal

log = logging.getLogger(__name__)
# Extra reads one session makes for notifications that came while it ran (then it yields).
MAX_EXTRA_PASSES = 3


def graph_client(user: User, token: str) -> GraphClient:
    """The user's Graph client, on the process's one HTTP session for Graph."""
    cfg = current_app.config
    return GraphClient(
        cfg["GRAPH_BASE_URL"],
        token,
        user.object_id,
        session=shared_http_session("graph"),
        timeout=float(cfg["HTTP_TIMEOUT_SECONDS"]),
        page_size=cfg["GRAPH_PAGE_SIZE"],
        max_retries=cfg["GRAPH_MAX_RETRIES"],
        backoff_base=cfg["GRAPH_BACKOFF_BASE_MS"] / 1000,
        max_wait=float(cfg["GRAPH_MAX_WAIT_SECONDS"]),
    )


def wanted_folders(policy) -> list[str]:
    """The folder keys the policy asks to read, in its order (never the never-read ones)."""
    return [
        f
        for f in dict.fromkeys(folder_key(f) for f in policy.folders)
        if f not in NEVER_READ_FOLDERS
    ]


class SessionRunner(RoundReader):
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
        self.client = graph_client(self.user, session_token(self.user))
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
        wanted = wanted_folders(policy)
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
