"""Reading a session's delta rounds (a mixin of sync/runner.SessionRunner): each folder's
and the calendar's pages from the stored link, or a fresh round, to the round's delta link;
the next page fetched while this one is saved; a lost delta state read again once from the
start; each page committed with its link (SessionRunner._commit_page)."""

from __future__ import annotations

from collections.abc import Callable
from concurrent.futures import Future, ThreadPoolExecutor
from datetime import UTC, datetime

from ..mail.graph import (
    DeltaPage,
    DeltaStateLost,
    GraphAuthError,
    GraphError,
    calendar_window,
)
from ..models.sync import CALENDAR, SyncState
from .pipeline import PageResult, Pipeline
from .session_token import token_after_refusal


def current_calendar_window(config) -> tuple[datetime, datetime]:
    """The calendar's rolling window today, as configured (frozen into its delta link)."""
    return calendar_window(
        datetime.now(UTC), config["SYNC_CALENDAR_PAST_DAYS"], config["SYNC_CALENDAR_FUTURE_DAYS"]
    )


class RoundReader:
    """SessionRunner's rounds: it brings db, user, record, config, client, _fresh_totals,
    _call and _commit_page."""

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
        return current_calendar_window(self.config)

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
