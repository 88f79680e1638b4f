"""Neutral mailbox types: what the rules and the sync see, whatever the mail provider.

Address parsing is forgiving: malformed or undecodable input becomes a Participant with
`valid=False` (class "invalid" in screening), never an exception.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from email_validator import EmailNotValidError, validate_email

MAX_ADDRESS_LENGTH = 320


@dataclass(frozen=True)
class Participant:
    address: str  # lower-cased when valid; the raw (cleaned) text when not
    name: str = ""
    valid: bool = True

    @property
    def local_part(self) -> str:
        return self.address.rsplit("@", 1)[0] if self.valid else ""

    @property
    def domain(self) -> str:
        return self.address.rsplit("@", 1)[1] if self.valid else ""


def _as_text(value: Any) -> str:
    if value is None:
        return ""
    if isinstance(value, bytes):
        return value.decode("utf-8", errors="replace")
    return value if isinstance(value, str) else str(value)


def parse_participant(address: Any, name: Any = "") -> Participant:
    """A Participant from untrusted input; never raises."""
    raw = _as_text(address).strip().strip("<>").strip()
    display = "".join(ch for ch in _as_text(name) if ch.isprintable())[:200].strip()
    if not raw or len(raw) > MAX_ADDRESS_LENGTH or "\ufffd" in raw:
        return Participant(address=raw[:MAX_ADDRESS_LENGTH], name=display, valid=False)
    try:
        # test_environment: accept *.test (RFC 2606) domains, which the sandbox and demo use.
        checked = validate_email(
            raw, check_deliverability=False, allow_smtputf8=True, test_environment=True
        )
    except (EmailNotValidError, UnicodeError, ValueError):
        return Participant(address=raw, name=display, valid=False)
    return Participant(address=checked.normalized.lower(), name=display)


@dataclass
class Message:
    id: str
    internet_message_id: str
    conversation_id: str = ""
    folder: str = ""  # well-known name (inbox, sentitems, ...) or the display name
    subject: str = ""
    sender: Participant | None = None
    from_: Participant | None = None
    to: list[Participant] = field(default_factory=list)
    cc: list[Participant] = field(default_factory=list)
    bcc: list[Participant] = field(default_factory=list)
    reply_to: list[Participant] = field(default_factory=list)
    received_at: datetime | None = None
    sent_at: datetime | None = None
    headers: dict[str, str] = field(default_factory=dict)  # lower-cased names
    body_text: str = ""
    size: int = 0
    is_draft: bool = False
    extra: dict[str, Any] = field(default_factory=dict)

    @property
    def participants(self) -> list[Participant]:
        """From, To and Cc (and Bcc for sent mail), in order, without repeats."""
        seen: set[str] = set()
        out: list[Participant] = []
        for p in [self.from_, *self.to, *self.cc, *self.bcc]:
            if p is not None and p.address not in seen:
                seen.add(p.address)
                out.append(p)
        return out


@dataclass(frozen=True)
class Attendee:
    participant: Participant
    type: str = "required"  # required | optional | resource
    response: str = "none"  # none | accepted | declined | tentativelyAccepted | organizer


@dataclass
class Event:
    id: str
    ical_uid: str
    subject: str = ""
    organizer: Participant | None = None
    attendees: list[Attendee] = field(default_factory=list)
    start: datetime | None = None
    end: datetime | None = None
    sensitivity: str = "normal"  # normal | personal | private | confidential
    cancelled: bool = False
    is_online_meeting: bool = False
    body_text: str = ""
    series_master_id: str = ""
    # For an occurrence or exception of a recurring series: the series master's iCalUId and
    # the occurrence's original start (its place in the series, unchanged by a move).
    series_uid: str = ""
    original_start: datetime | None = None
    extra: dict[str, Any] = field(default_factory=dict)

    @property
    def participants(self) -> list[Participant]:
        seen: set[str] = set()
        out: list[Participant] = []
        for p in [self.organizer, *(a.participant for a in self.attendees)]:
            if p is not None and p.address not in seen:
                seen.add(p.address)
                out.append(p)
        return out
