"""Graph JSON → neutral Message/Event. Pure and forgiving: bad data never raises.

Anything we cannot use (no id, a payload that is not an object) becomes a `Skipped` with a
reason, so the session records it and carries on.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime
from functools import lru_cache
from typing import Any

from .base import Attendee, Event, Message, Participant, parse_participant
from .html_text import html_to_text

# A guard against enormous bodies, above every CRM's field limit: the CRM adapter cuts the
# body to its field with a visible marker (a cut here would be silent).
MAX_BODY_CHARS = 100_000
MAX_HEADER_VALUE_CHARS = 2_000
MAX_HEADERS = 200
MAX_RECIPIENTS = 500
MAX_SUBJECT_CHARS = 500


@dataclass(frozen=True)
class Skipped:
    id: str
    reason: str  # invalid_payload | missing_id


def _text(value: Any, limit: int) -> str:
    if value is None:
        return ""
    if isinstance(value, bytes):
        value = value.decode("utf-8", errors="replace")
    if not isinstance(value, str):
        value = str(value)
    return value[:limit]


def _dict(value: Any) -> dict:
    return value if isinstance(value, dict) else {}


def parse_datetime(value: Any) -> datetime | None:
    """Graph dates: '2026-01-02T03:04:05Z', with fractions, or dateTimeTimeZone objects (UTC
    because we ask for UTC)."""
    if isinstance(value, dict):
        value = value.get("dateTime")
    if not isinstance(value, str) or not value:
        return None
    raw = value.strip().replace("Z", "+00:00")
    if "." in raw:  # Graph sends 7 fractional digits; Python takes at most 6
        head, _, tail = raw.partition(".")
        digits = "".join(ch for ch in tail if ch.isdigit())
        zone = tail[len(digits) :]
        raw = f"{head}.{digits[:6]}{zone}"
    try:
        parsed = datetime.fromisoformat(raw)
    except ValueError:
        return None
    return parsed.replace(tzinfo=UTC) if parsed.tzinfo is None else parsed.astimezone(UTC)


@lru_cache(maxsize=8192)
def _participant(address: str, name: str) -> Participant:
    # A mailbox repeats the same people endlessly; Participant is immutable, so share it.
    return parse_participant(address, name)


def parse_recipient(value: Any) -> Participant | None:
    address = _dict(_dict(value).get("emailAddress"))
    if not address:
        return None
    raw, name = address.get("address"), address.get("name", "")
    if isinstance(raw, str) and isinstance(name, str) and len(raw) + len(name) < 1000:
        return _participant(raw, name)
    return parse_participant(raw, name)


def _recipients(value: Any) -> list[Participant]:
    if not isinstance(value, list):
        return []
    out = []
    for item in value[:MAX_RECIPIENTS]:
        participant = parse_recipient(item)
        if participant is not None:
            out.append(participant)
    return out


def parse_headers(value: Any) -> dict[str, str]:
    """internetMessageHeaders [{name, value}] → {lower-name: value}; repeats are joined."""
    headers: dict[str, str] = {}
    if not isinstance(value, list):
        return headers
    for item in value[:MAX_HEADERS]:
        item = _dict(item)
        name = _text(item.get("name"), 200).strip().lower()
        if not name:
            continue
        text = _text(item.get("value"), MAX_HEADER_VALUE_CHARS)
        headers[name] = f"{headers[name]}, {text}" if name in headers else text
    return headers


# A complete message entry carries at least one of these (Courier always selects them all).
_IDENTITY_FIELDS = ("receivedDateTime", "internetMessageId", "from", "sender")


def is_partial_update(raw: Any) -> bool:
    """A delta entry for a changed message may carry only the changed fields, e.g. just
    `id`, `isRead` and `parentFolderId` after a read-state toggle, whatever $select asked
    (microsoftgraph/microsoft-graph-docs-contrib#5544, msgraph-sdk-dotnet-core#40). Sender,
    recipients, dates and headers never change once a message is received, so an entry
    without any of them says nothing screening needs."""
    data = _dict(raw)
    return bool(data) and "@removed" not in data and not any(k in data for k in _IDENTITY_FIELDS)


def message_body_text(body: Any) -> str:
    """The body as plain text. Delta does not document `Prefer: outlook.body-content-type`
    (https://learn.microsoft.com/graph/api/message-delta lists only odata.maxpagesize), and
    list calls have been seen to ignore it (microsoftgraph/microsoft-graph-docs#4156), so an
    HTML body is converted here rather than trusted to be text."""
    body = _dict(body)
    content = body.get("content")
    if _text(body.get("contentType"), 20).strip().lower() == "html" and isinstance(content, str):
        return html_to_text(content, MAX_BODY_CHARS)
    return _text(content, MAX_BODY_CHARS)


def parse_message(raw: Any, folder: str) -> Message | Skipped:
    data = _dict(raw)
    message_id = _text(data.get("id"), 512)
    if not data:
        return Skipped(id="", reason="invalid_payload")
    if not message_id:
        return Skipped(id="", reason="missing_id")
    body_text = message_body_text(data.get("body"))
    return Message(
        id=message_id,
        internet_message_id=_text(data.get("internetMessageId"), 998).strip(),
        conversation_id=_text(data.get("conversationId"), 512),
        folder=folder,
        subject=_text(data.get("subject"), MAX_SUBJECT_CHARS),
        sender=parse_recipient(data.get("sender")),
        from_=parse_recipient(data.get("from")),
        to=_recipients(data.get("toRecipients")),
        cc=_recipients(data.get("ccRecipients")),
        bcc=_recipients(data.get("bccRecipients")),
        reply_to=_recipients(data.get("replyTo")),
        received_at=parse_datetime(data.get("receivedDateTime")),
        sent_at=parse_datetime(data.get("sentDateTime")),
        headers=parse_headers(data.get("internetMessageHeaders")),
        body_text=body_text,
        size=len(body_text),
        is_draft=data.get("isDraft") is True,
        extra={"parent_folder_id": _text(data.get("parentFolderId"), 512)},
    )


_ATTENDEE_TYPES = {"required", "optional", "resource"}


def _attendees(value: Any) -> list[Attendee]:
    if not isinstance(value, list):
        return []
    out = []
    for item in value[:MAX_RECIPIENTS]:
        item = _dict(item)
        participant = parse_recipient(item)
        if participant is None:
            continue
        kind = _text(item.get("type"), 20)
        response = _text(_dict(item.get("status")).get("response"), 40) or "none"
        out.append(Attendee(participant, kind if kind in _ATTENDEE_TYPES else "required", response))
    return out


# What an occurrence or exception has of its own; everything else it shares with its series
# master. In a calendarView delta an occurrence carries only id, type, seriesMasterId, start
# and end (microsoftgraph/microsoft-graph-docs-contrib#34, #5602: "Should i read all the other
# properties from the master event?" — yes: jasonjoh in microsoft-graph-docs#2182, "They
# should both have a seriesMasterId property that you can use to retrieve the master").
# An exception, or an occurrence read with GET, arrives with its own full properties
# (https://learn.microsoft.com/graph/api/resources/event): those win over the master's.
_OCCURRENCE_OWN = frozenset(
    {
        "id",
        "type",
        "seriesMasterId",
        "start",
        "end",
        "originalStart",
        "originalStartTimeZone",
        "originalEndTimeZone",
        "iCalUId",
        "recurrence",
        "changeKey",
        "lastModifiedDateTime",
        "createdDateTime",
        "webLink",
        "@odata.etag",
        "@odata.type",
    }
)


def event_type(raw: Any) -> str:
    """singleInstance | occurrence | exception | seriesMaster ("" when absent)."""
    return _text(_dict(raw).get("type"), 20)


def needs_series_master(raw: Any) -> str:
    """The seriesMasterId an occurrence or exception needs to be complete ("" if none)."""
    data = _dict(raw)
    if "@removed" in data or event_type(data) == "seriesMaster":
        return ""
    return _text(data.get("seriesMasterId"), 512)


def _with_series(data: dict, master: dict) -> dict:
    inherited = {k: v for k, v in master.items() if k not in _OCCURRENCE_OWN}
    return {**inherited, **data}


def parse_event(raw: Any, master: Any = None) -> Event | Skipped:
    """A single instance, or an occurrence/exception completed from its series `master` (the
    raw master event). A series master itself is no meeting: Skipped("series_master")."""
    data = _dict(raw)
    event_id = _text(data.get("id"), 512)
    if not data:
        return Skipped(id="", reason="invalid_payload")
    if not event_id:
        return Skipped(id="", reason="missing_id")
    if event_type(data) == "seriesMaster":
        return Skipped(id=event_id, reason="series_master")
    series_uid = ""
    original_start = None
    if needs_series_master(data):
        master = _dict(master)
        series_uid = _text(master.get("iCalUId"), 1024).strip()
        if not series_uid:
            return Skipped(id=event_id, reason="missing_series_master")
        data = _with_series(data, master)
        # An occurrence that was never moved starts where the series put it: a sparse one
        # (no originalStart) is at its original start.
        original_start = parse_datetime(data.get("originalStart")) or parse_datetime(
            data.get("start")
        )
        if original_start is None:
            return Skipped(id=event_id, reason="missing_start")
    ical_uid = _text(data.get("iCalUId"), 1024).strip()
    if not ical_uid and not series_uid:
        return Skipped(id=event_id, reason="missing_ical_uid")
    body = _dict(data.get("body"))
    sensitivity = _text(data.get("sensitivity"), 20) or "normal"
    return Event(
        id=event_id,
        ical_uid=ical_uid,
        subject=_text(data.get("subject"), MAX_SUBJECT_CHARS),
        organizer=parse_recipient(data.get("organizer")),
        attendees=_attendees(data.get("attendees")),
        start=parse_datetime(data.get("start")),
        end=parse_datetime(data.get("end")),
        sensitivity=sensitivity.lower(),
        cancelled=data.get("isCancelled") is True,
        is_online_meeting=data.get("isOnlineMeeting") is True,
        body_text=_text(body.get("content"), MAX_BODY_CHARS),
        series_master_id=_text(data.get("seriesMasterId"), 512),
        series_uid=series_uid,
        original_start=original_start,
        extra={
            "type": event_type(data),
            "is_organizer": data.get("isOrganizer") is True,
            "last_modified": _text(data.get("lastModifiedDateTime"), 40),
        },
    )
