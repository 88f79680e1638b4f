"""Microsoft Graph client for the calls the sync uses: user, folders, message and calendar delta.

Retries 429/503 (Retry-After, else exponential backoff with jitter), connection errors and
timeouts; a lost delta state (410 / syncStateNotFound) raises `DeltaStateLost` so the caller
re-reads the window. At most 4 requests are in flight per mailbox, in this process.
"""

from __future__ import annotations

import os
import threading
import time
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any
from urllib.parse import quote, urlencode

import requests

from ..rules.autosave import OLDER_THAN_WINDOW, before_window
from .base import Event, Message
from .graph_batch import BatchCalls, BatchGet
from .graph_errors import (
    DeltaStateLost,
    FolderNotFound,
    GraphAuthError,
    GraphError,
    GraphUnavailable,
    MailboxOutOfScope,
    backoff_delay,
    decode_json,
    error_of,
    is_delta_state_lost,
    retry_after_seconds,
)
from .graph_events import SeriesMasters, without_masters
from .graph_folders import Folder, FolderCalls
from .graph_parse import (
    Skipped,
    is_partial_update,
    parse_datetime,
    parse_event,
    parse_message,
)

MESSAGE_FIELDS = (
    "id,internetMessageId,conversationId,parentFolderId,subject,from,sender,toRecipients,"
    "ccRecipients,bccRecipients,replyTo,receivedDateTime,sentDateTime,isDraft,body,"
    "internetMessageHeaders"
)
# Message delta with $filter "returns only up to 5,000 messages", silently
# (https://learn.microsoft.com/graph/delta-query-messages, "Use query parameters"). The window
# filter is only used on folders too small to reach that cap, with headroom for mail arriving
# during the round; bigger folders are read whole and the window applied here.
FILTERED_DELTA_CAP = 5_000
FILTER_BELOW_TOTAL = FILTERED_DELTA_CAP - 1_000
RETRY_STATUSES = {429, 500, 502, 503, 504}
MESSAGE_PREFER = ('outlook.body-content-type="text"',)
EVENT_PREFER = ('outlook.timezone="UTC"', 'outlook.body-content-type="text"')
CALENDAR_KEY = "calendar"
MAX_IN_FLIGHT_PER_MAILBOX = 4

_limits_lock = threading.Lock()
_mailbox_limits: dict[str, threading.BoundedSemaphore] = {}


def mailbox_semaphore(mailbox: str) -> threading.BoundedSemaphore:
    """One semaphore per mailbox, shared by every client in this process."""
    with _limits_lock:
        sem = _mailbox_limits.get(mailbox)
        if sem is None:
            sem = _mailbox_limits[mailbox] = threading.BoundedSemaphore(MAX_IN_FLIGHT_PER_MAILBOX)
        return sem


@dataclass
class DeltaPage:
    items: list[Any] = field(default_factory=list)  # Message | Event
    removed: list[str] = field(default_factory=list)
    skipped: list[Skipped] = field(default_factory=list)
    ignored: Counter = field(default_factory=Counter)  # entries that are not items, by reason
    next_link: str | None = None
    delta_link: str | None = None


@dataclass
class GraphStats:
    requests: int = 0
    retries: int = 0


class GraphClient(FolderCalls, BatchCalls):
    def __init__(
        self,
        base_url: str,
        token: str,
        mailbox: str,
        *,
        session: requests.Session | None = None,
        timeout: float = 20.0,
        page_size: int = 100,
        max_retries: int = 6,
        backoff_base: float = 0.5,
        max_wait: float = 30.0,
    ):
        self.base_url = base_url.rstrip("/")
        self.mailbox = mailbox
        self.token = token
        self.timeout = timeout
        self.page_size = page_size
        self.max_retries = max_retries
        self.backoff_base = backoff_base
        self.max_wait = max_wait
        self.stats = GraphStats()
        self._session = session or _default_session()
        self._sem = mailbox_semaphore(mailbox)
        self.series_masters = SeriesMasters(self._events_json)

    # --- transport ---------------------------------------------------------------------

    def _headers(self, extra_prefer: tuple[str, ...] = ()) -> dict[str, str]:
        prefer = [f"odata.maxpagesize={self.page_size}", 'IdType="ImmutableId"', *extra_prefer]
        return {
            "Authorization": f"Bearer {self.token}",
            "Accept": "application/json",
            "Prefer": ", ".join(prefer),
        }

    def get(self, url: str, prefer: tuple[str, ...] = ()) -> dict:
        """GET a Graph URL (absolute, or relative to the base) with retries; JSON object."""
        return self.send("GET", url, prefer=prefer)

    def send(
        self, method: str, url: str, body: dict | None = None, prefer: tuple[str, ...] = ()
    ) -> dict:
        """One Graph call with timeouts and retries; the JSON object answered ({} for 204)."""
        if not url.startswith(("http://", "https://")):
            url = f"{self.base_url}/{url.lstrip('/')}"
        attempt = 0
        while True:
            try:
                with self._sem:
                    self.stats.requests += 1
                    response = self._session.request(
                        method, url, json=body, headers=self._headers(prefer), timeout=self.timeout
                    )
            except (requests.ConnectionError, requests.Timeout) as exc:
                attempt = self._before_retry(attempt, None, f"connection: {type(exc).__name__}")
                continue
            if response.status_code == 204:
                return {}
            if response.status_code < 300:
                return decode_json(response)
            code, message = error_of(response)
            if is_delta_state_lost(response.status_code, code):
                raise DeltaStateLost(message or "delta state lost", response.status_code, code)
            if response.status_code in (401, 403):
                raise GraphAuthError(message or "unauthorized", response.status_code, code)
            if response.status_code == 404:
                raise FolderNotFound(message or "not found", 404, code)
            if response.status_code in RETRY_STATUSES:
                attempt = self._before_retry(attempt, response, f"{response.status_code} {code}")
                continue
            raise GraphError(message or f"HTTP {response.status_code}", response.status_code, code)

    def _before_retry(self, attempt: int, response: requests.Response | None, why: str) -> int:
        """Sleep before the next attempt, or give up with GraphUnavailable."""
        wait = retry_after_seconds(response) if response is not None else None
        if wait is None:
            wait = backoff_delay(attempt, self.backoff_base)
        if attempt >= self.max_retries or wait > self.max_wait:
            status = response.status_code if response is not None else 0
            raise GraphUnavailable(
                f"giving up after {attempt + 1} attempts: {why}", status, retry_after=wait
            )
        self.stats.retries += 1
        time.sleep(wait)
        return attempt + 1

    # --- delta ---------------------------------------------------------------------------

    def message_delta_url(
        self, folder_id: str, since: datetime | None, folder_total: int | None = None
    ) -> str:
        """The first request of a full round. The window's $filter only when the folder's
        totalItemCount says the filtered round cannot reach Graph's 5,000 cap; otherwise the
        whole folder, and `message_delta_page(..., since)` drops what is older."""
        params = {"$select": MESSAGE_FIELDS}
        if since is not None and folder_total is not None and folder_total < FILTER_BELOW_TOTAL:
            params["$filter"] = f"receivedDateTime ge {_iso(since)}"
        folder = quote(folder_id, safe="")
        return f"{self.base_url}/{self.user_path()}/mailFolders/{folder}/messages/delta?" + (
            urlencode(params, quote_via=quote)
        )

    def message_delta_page(
        self, url: str, folder_name: str, since: datetime | None = None
    ) -> DeltaPage:
        data = self.get(url, prefer=MESSAGE_PREFER)
        return parse_message_page(data, folder_name, since)

    def delta_first_pages(
        self,
        folders: dict[str, tuple[str, str]],
        calendar: str | None,
        since: datetime | None = None,
    ) -> dict[str, DeltaPage]:
        """The next page of several delta rounds in one $batch call: `folders` maps a key
        to (link, folder name), `calendar` is the calendar's link. Pages that failed are
        left out (read them alone, with the single request's error handling)."""
        calls = [
            BatchGet(key, link, MESSAGE_PREFER)
            for key, (link, _) in folders.items()
            if self.batchable(link)
        ]
        if calendar and self.batchable(calendar):
            calls.append(BatchGet(CALENDAR_KEY, calendar, EVENT_PREFER))
        if len(calls) < 2:
            return {}  # one request is one request: nothing to gain
        pages = {}
        for key, body in self.get_batch(calls).items():
            if body is None:
                continue
            if key == CALENDAR_KEY:
                pages[key] = self._event_page(body)
            else:
                pages[key] = parse_message_page(body, folders[key][1], since)
        return pages

    def calendar_delta_url(self, start: datetime, end: datetime) -> str:
        params = {"startDateTime": _iso(start), "endDateTime": _iso(end)}
        return f"{self.base_url}/{self.user_path()}/calendarView/delta?" + urlencode(params)

    def _event_json(self, event_id: str) -> dict | None:
        """One event's raw JSON; None when it no longer exists (or cannot be read)."""
        try:
            return self.get(
                f"{self.user_path()}/events/{quote(event_id, safe='')}", prefer=EVENT_PREFER
            )
        except FolderNotFound:
            return None

    def _events_json(self, event_ids: list[str]) -> dict[str, dict | None]:
        """Several events' raw JSON by id (None: gone): one GET for one, else `$batch`es
        (graph_batch). An item that failed in the batch otherwise than 404 is read again
        alone, with the single request's handling."""
        if len(event_ids) == 1:
            return {event_ids[0]: self._event_json(event_ids[0])}
        calls = [
            BatchGet(
                event_id,
                f"{self.base_url}/{self.user_path()}/events/{quote(event_id, safe='')}",
                EVENT_PREFER,
            )
            for event_id in event_ids
        ]
        gone: set[str] = set()
        bodies = self.get_batch(calls, gone)
        return {
            event_id: None if event_id in gone else body or self._event_json(event_id)
            for event_id, body in bodies.items()
        }

    def get_event(self, event_id: str) -> Event | None:
        """One event of the mailbox (an occurrence completed from its series master); None
        when it no longer exists, or is a series master."""
        data = self._event_json(event_id)
        if data is None:
            return None
        self.series_masters.complete([data])
        parsed = parse_event(data, self.series_masters.of(data))
        return parsed if isinstance(parsed, Event) else None

    def get_events(self, event_ids: list[str]) -> dict[str, Event | None]:
        """Several events as get_event reads each, in `$batch`es (a removal notice lists
        many: a deleted series stands for all its occurrences)."""
        wanted = sorted({e for e in event_ids if e})
        if not wanted:
            return {}
        found = self._events_json(wanted)
        self.series_masters.complete([data for data in found.values() if data is not None])
        out: dict[str, Event | None] = {}
        for event_id in wanted:
            data = found.get(event_id)
            parsed = None if data is None else parse_event(data, self.series_masters.of(data))
            out[event_id] = parsed if isinstance(parsed, Event) else None
        return out

    def event_delta_page(self, url: str) -> DeltaPage:
        """A calendarView delta page: single meetings, and occurrences and exceptions of
        series completed from their masters (see graph_events); masters are not items."""
        return self._event_page(self.get(url, prefer=EVENT_PREFER))

    def _event_page(self, data: dict) -> DeltaPage:
        value = data.get("value") or []
        self.series_masters.remember(value)
        self.series_masters.complete(value)
        return _delta_page(
            without_masters(data), lambda raw: parse_event(raw, self.series_masters.of(raw))
        )


def calendar_window(now: datetime, past_days: int, future_days: int) -> tuple[datetime, datetime]:
    """The rolling window, aligned to whole days so it only moves once a day (re-baseline)."""
    day = now.astimezone(UTC).replace(hour=0, minute=0, second=0, microsecond=0)
    return day - timedelta(days=past_days), day + timedelta(days=future_days)


def _default_session() -> requests.Session:
    from ..http import make_http_session

    return make_http_session(service="graph")


_shared: dict[tuple, requests.Session] = {}


def shared_http_session() -> requests.Session:
    """One Session per worker process (and CA bundle/timeout), so consecutive sync sessions
    reuse their TLS connections to Graph instead of a handshake each (most of an idle
    session's CPU otherwise). Keyed by pid: a forked child never uses its parent's sockets.
    RQ runs one job at a time per process; within a job the prefetch thread shares it as
    it already shared the client's."""
    from flask import current_app

    cfg = current_app.config
    key = (os.getpid(), cfg.get("CA_BUNDLE", ""), cfg.get("HTTP_TIMEOUT_SECONDS", 20))
    session = _shared.get(key)
    if session is None:
        session = _shared[key] = _default_session()
    return session


def _delta_page(
    data: dict, parse: Callable[[Any], Any], ignored: Callable[[dict], str] | None = None
) -> DeltaPage:
    """A delta response: parsed items, items skipped with their reason, removals (Graph sends
    only the id and "@removed" for those), entries `ignored` names a reason for, and the
    page's links."""
    page = DeltaPage(next_link=data.get("@odata.nextLink"), delta_link=data.get("@odata.deltaLink"))
    for raw in data.get("value") or []:
        if isinstance(raw, dict) and "@removed" in raw:
            page.removed.append(str(raw.get("id", "")))
            continue
        reason = ignored(raw) if ignored is not None and isinstance(raw, dict) else ""
        if reason:
            page.ignored[reason] += 1
            continue
        parsed = parse(raw)
        (page.skipped if isinstance(parsed, Skipped) else page.items).append(parsed)
    return page


def parse_message_page(data: dict, folder_name: str, since: datetime | None = None) -> DeltaPage:
    """One page of message delta. Partial update entries and messages received before
    `since` are counted in `ignored` (under the verdict's own code, rules/autosave), not parsed
    into items."""

    def ignored(raw: dict) -> str:
        if is_partial_update(raw):
            return "updated_only"
        if before_window(parse_datetime(raw.get("receivedDateTime")), since):
            return OLDER_THAN_WINDOW
        return ""

    return _delta_page(data, lambda raw: parse_message(raw, folder_name), ignored)


def _iso(moment: datetime) -> str:
    return moment.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


__all__ = [
    "DeltaPage",
    "DeltaStateLost",
    "Event",
    "Folder",
    "FolderNotFound",
    "GraphAuthError",
    "GraphClient",
    "GraphError",
    "GraphUnavailable",
    "MailboxOutOfScope",
    "Message",
    "calendar_window",
    "mailbox_semaphore",
    "parse_message_page",
    "shared_http_session",
]
