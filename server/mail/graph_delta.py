"""Delta reads of the Graph client: message and calendar delta rounds, their first pages of
several rounds in one `$batch`, and events by id (series masters for occurrences).

A mixin of GraphClient (server/mail/graph.py), which brings the transport (`get`, `base_url`,
`user_path`, `get_batch`)."""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any
from urllib.parse import quote, urlencode

from ..rules.autosave import OLDER_THAN_WINDOW, before_window
from .base import Event
from .graph_batch import BatchGet
from .graph_errors import FolderNotFound
from .graph_events import without_masters
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
MESSAGE_PREFER = ('outlook.body-content-type="text"',)
EVENT_PREFER = ('outlook.timezone="UTC"', 'outlook.body-content-type="text"')
CALENDAR_KEY = "calendar"


@dataclass
class DeltaPage:
    items: list[Any] = field(default_factory=list)  # Message | Event
    removed: list[str] = field(default_factory=list)
    skipped: list[Skipped] = field(default_factory=list)
    ignored: Counter = field(default_factory=Counter)  # entries that are not items, by reason
    next_link: str | None = None
    delta_link: str | None = None


class DeltaCalls:
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
