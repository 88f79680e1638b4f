"""Idempotency keys for the ledger and the CRM: the same item gets the same key whether the
pane, a thread rule or the background sync saves it."""

from __future__ import annotations

import hashlib
from collections.abc import Iterable
from datetime import UTC, datetime

MAX_KEY_LENGTH = 512


def email_key(
    internet_message_id: str | None,
    sender: str = "",
    recipients: Iterable[str] = (),
    subject: str = "",
    sent_at: datetime | None = None,
) -> str:
    """The internetMessageId; when missing (freshly sent items in the pane), a fingerprint of
    sender, recipients, subject and the minute it was sent."""
    mid = (internet_message_id or "").strip()
    if mid:
        return mid if len(mid) <= MAX_KEY_LENGTH else "sha256:" + _digest(mid)
    minute = sent_at.strftime("%Y-%m-%dT%H:%M") if sent_at else ""
    parts = [
        sender.lower(),
        ",".join(sorted(r.lower() for r in recipients)),
        subject.strip(),
        minute,
    ]
    return "fp:" + _digest("\n".join(parts))


def meeting_key(ical_uid: str) -> str:
    uid = ical_uid.strip()
    return uid if len(uid) <= MAX_KEY_LENGTH else "sha256:" + _digest(uid)


def occurrence_key(series_uid: str, original_start: datetime) -> str:
    """One occurrence of a recurring series, the same in every attendee's mailbox.

    Graph's occurrence `id`s differ per mailbox, and in a calendarView delta an occurrence
    carries no `iCalUId` at all (only id, type, seriesMasterId, start, end:
    microsoftgraph/microsoft-graph-docs-contrib#34 and #5602). What every mailbox shares is
    the series master's `iCalUId` and the occurrence's original start (`originalStart`, which
    stays put when one occurrence is moved) — iCalendar's UID + RECURRENCE-ID pair, which
    identifies one instance of a series across calendars (RFC 5545 §3.8.4.4). `original_start`
    must be timezone-aware; it is keyed in UTC to the second."""
    moment = original_start.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
    return meeting_key(f"{series_uid.strip()}#{moment}")


def _digest(text: str) -> str:
    return hashlib.sha256(text.encode("utf-8", errors="replace")).hexdigest()
