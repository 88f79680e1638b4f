"""Recurring series as Graph's calendarView delta shows them: one series master (full event,
with `recurrence`, at the series' first start) and, per occurrence, an entry with only the
fields Graph sends for an unchanged occurrence: `@odata.type`, `@odata.etag`, `id`,
`seriesMasterId`, `type`, `start`, `end` (no `iCalUId`, no subject, no attendees:
microsoftgraph/microsoft-graph-docs-contrib#34 and #5602, microsoft-graph-docs#7632).

An occurrence read with `GET /events/{id}` is complete: the master's properties plus its own
`iCalUId` ("different for each occurrence in a recurring series") and `originalStart`
(https://learn.microsoft.com/graph/api/resources/event). A changed occurrence (moved,
retitled, cancelled) becomes an `exception`: a full event with the same fields.

Underscore fields are the sandbox's own and never sent: `_series_uid` and `_original_start`
name the occurrence for its label, whose key is rules.keys.occurrence_key — what the CRM must
end up holding.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from ..rules.keys import occurrence_key

# The fields of a series master an occurrence does not take over (they are its own).
OWN_FIELDS = ("id", "type", "seriesMasterId", "start", "end", "iCalUId", "recurrence")
DAY_NAMES = ("monday", "tuesday", "wednesday", "thursday", "friday", "saturday", "sunday")


def when(moment: datetime) -> dict:
    return {"dateTime": moment.strftime("%Y-%m-%dT%H:%M:%S.0000000"), "timeZone": "UTC"}


def parse_when(value: dict) -> datetime:
    return datetime.fromisoformat(value["dateTime"][:19]).replace(tzinfo=UTC)


def weekly_recurrence(first: datetime, count: int) -> dict:
    """A patternedRecurrence: weekly on the first start's weekday, `count` occurrences
    (https://learn.microsoft.com/graph/api/resources/patternedrecurrence)."""
    return {
        "pattern": {
            "type": "weekly",
            "interval": 1,
            "month": 0,
            "dayOfMonth": 0,
            "daysOfWeek": [DAY_NAMES[first.weekday()]],
            "firstDayOfWeek": "sunday",
            "index": "first",
        },
        "range": {
            "type": "numbered",
            "startDate": first.strftime("%Y-%m-%d"),
            "endDate": "0001-01-01",
            "recurrenceTimeZone": "UTC",
            "numberOfOccurrences": count,
        },
    }


def sparse_occurrence(master: dict, event_id: str, start: datetime, minutes: int) -> dict:
    """An unchanged occurrence as calendarView delta sends it."""
    return {
        "@odata.type": "#microsoft.graph.event",
        "@odata.etag": f'W/"{event_id[-12:]}"',
        "id": event_id,
        "seriesMasterId": master["id"],
        "type": "occurrence",
        "start": when(start),
        "end": when(start + timedelta(minutes=minutes)),
        "_series_uid": master["iCalUId"],
        "_original_start": start.strftime("%Y-%m-%dT%H:%M:%SZ"),
    }


def is_part_of_series(event: dict) -> bool:
    return "_series_uid" in event


def full_occurrence(master: dict, occurrence: dict) -> dict:
    """The occurrence with everything it has of its master, its own iCalUId and its
    originalStart: what GET returns, and what an exception carries in a delta."""
    if occurrence.get("type") == "exception":
        return occurrence
    inherited = {k: v for k, v in master.items() if k not in OWN_FIELDS}
    original = occurrence.get("_original_start") or parse_when(occurrence["start"]).strftime(
        "%Y-%m-%dT%H:%M:%SZ"
    )
    return {
        **inherited,
        **occurrence,
        "iCalUId": f"{master['iCalUId']}-{original[:10].replace('-', '')}",
        "originalStart": original,
        "originalStartTimeZone": "UTC",
        "originalEndTimeZone": "UTC",
    }


def as_exception(master: dict, occurrence: dict) -> dict:
    """The occurrence turned into an exception, ready to be changed."""
    full = full_occurrence(master, occurrence)
    return {**full, "type": "exception"}


def label_key(event: dict) -> str:
    """The key of the CRM meeting an event's label describes ("" for a series master)."""
    if is_part_of_series(event):
        original = datetime.fromisoformat(event["_original_start"].replace("Z", "+00:00"))
        return occurrence_key(event["_series_uid"], original)
    if event.get("type") == "seriesMaster":
        return ""
    return event.get("iCalUId", "")
