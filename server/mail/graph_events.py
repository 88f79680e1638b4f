"""Recurring series in a calendarView: the series masters an occurrence needs, fetched once.

In a calendarView delta an occurrence arrives with only id, type, seriesMasterId, start and end
(microsoftgraph/microsoft-graph-docs-contrib#34 and #5602); its subject, attendees, organizer
and body are the series master's. The master is in the delta only once, at the series' first
start, and not at all when that start is outside the window; it can always be read with
`GET /users/{id}/events/{seriesMasterId}` (microsoft-graph-docs#2182: "They should both have a
seriesMasterId property that you can use to retrieve the master";
https://learn.microsoft.com/graph/api/event-get). The masters a page lacks are read together
(one `$batch` of up to 20) and kept for the session, so a series costs at most one read
however many pages mention it.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterable
from typing import Any

from .graph_parse import event_type, needs_series_master


class SeriesMasters:
    """Raw series masters by id (None: gone) for one client, i.e. one sync session."""

    def __init__(self, read: Callable[[list[str]], dict[str, dict | None]]):
        self._read = read  # events' raw JSON by id; None for one that no longer exists
        self._known: dict[str, dict | None] = {}
        self._lock = threading.Lock()

    def remember(self, raws: Iterable[Any]) -> None:
        """Masters that came in a page: the newest version of each."""
        with self._lock:
            for raw in raws:
                if isinstance(raw, dict) and event_type(raw) == "seriesMaster" and raw.get("id"):
                    self._known[str(raw["id"])] = raw

    def complete(self, raws: Iterable[Any]) -> None:
        """Read the masters these occurrences need and this session has not seen yet."""
        with self._lock:
            wanted = sorted({m for m in map(needs_series_master, raws) if m} - set(self._known))
        if not wanted:
            return
        found = self._read(wanted)
        with self._lock:
            for master_id in wanted:
                raw = found.get(master_id)
                self._known.setdefault(master_id, raw if isinstance(raw, dict) else None)

    def of(self, raw: Any) -> dict | None:
        master_id = needs_series_master(raw)
        with self._lock:
            return self._known.get(master_id) if master_id else None


def without_masters(data: dict) -> dict:
    """A delta page minus its series masters: a master describes a series, it is no meeting
    (its start is only the series' first occurrence)."""
    value = [raw for raw in data.get("value") or [] if event_type(raw) != "seriesMaster"]
    return {**data, "value": value}
