"""Screening (PRODUCT §4): is an email or a meeting relevant, and who in it may be linked.

`screen(item, policy)` never raises on what a mailbox contains (odd headers, broken
addresses, huge values) and always gives a reason code for its answer.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any

from ..mail.base import Event, Message, Participant
from . import defaults
from .policy import (
    BLOCKED,
    EXCLUDED,
    EXTERNAL,
    IGNORED,
    INTERNAL,
    PERSONAL,
    ROLE,
    TOOL,
    Policy,
    folder_key,
)

# Reasons an item is kept.
KEEP_EXTERNAL = "external_participants"
KEEP_INTERNAL_ALLOWED = "internal_allowed"
KEEP_APPOINTMENT = "appointment_allowed"
# Reasons an item is skipped.
SKIP_FOLDER_NEVER_READ = "folder_never_read"
SKIP_FOLDER_NOT_SYNCED = "folder_not_synced"
SKIP_DRAFT = "draft"
SKIP_SUBJECT_KEYWORD = "subject_keyword"
SKIP_AUTOMATED_HEADER = "automated_header"
SKIP_AUTOMATED_SENDER = "automated_sender"
SKIP_EXCLUDED = "excluded_participant"
SKIP_INTERNAL_ONLY = "internal_only"
SKIP_PERSONAL_ONLY = "personal_only"
SKIP_ONLY_BLOCKED = "only_blocked"
SKIP_ROLE_OR_TOOL_ONLY = "only_role_or_tool"
SKIP_NO_PARTICIPANTS = "no_valid_participants"
SKIP_MEETINGS_OFF = "meetings_off"
SKIP_PRIVATE_EVENT = "private_event"
SKIP_APPOINTMENT = "appointment"

KEEP_REASONS = (KEEP_EXTERNAL, KEEP_INTERNAL_ALLOWED, KEEP_APPOINTMENT)
SKIP_REASONS = (
    SKIP_FOLDER_NEVER_READ,
    SKIP_FOLDER_NOT_SYNCED,
    SKIP_DRAFT,
    SKIP_SUBJECT_KEYWORD,
    SKIP_AUTOMATED_HEADER,
    SKIP_AUTOMATED_SENDER,
    SKIP_EXCLUDED,
    SKIP_INTERNAL_ONLY,
    SKIP_PERSONAL_ONLY,
    SKIP_ONLY_BLOCKED,
    SKIP_ROLE_OR_TOOL_ONLY,
    SKIP_NO_PARTICIPANTS,
    SKIP_MEETINGS_OFF,
    SKIP_PRIVATE_EVENT,
    SKIP_APPOINTMENT,
)


@dataclass(frozen=True)
class Decision:
    keep: bool
    reason: str
    # Every participant's class, in the item's order (From, To, Cc, Bcc / organizer, attendees).
    participants: dict[str, str] = field(default_factory=dict)
    # Who may be linked to CRM records: external people (and personal addresses when the
    # item is relevant anyway). Empty when the item is skipped.
    linkable: tuple[Participant, ...] = ()
    # What triggered the reason: the keyword, the header, the excluded address, the folder.
    detail: str = ""

    @property
    def linkable_addresses(self) -> list[str]:
        return [p.address for p in self.linkable]

    def addresses_of(self, cls: str) -> list[str]:
        return [a for a, c in self.participants.items() if c == cls]


def _text(value: Any) -> str:
    if type(value) is str:
        return value
    if isinstance(value, bytes):
        return value.decode("utf-8", errors="replace")
    return "" if value is None else str(value)


def _header(headers: Any, name: str) -> str | None:
    try:
        value = headers.get(name)
    except (AttributeError, TypeError):
        return None
    return None if value is None else _text(value)


def automated_header(headers: Any) -> str:
    """The header that marks the mail as automated ("" when none does)."""
    if not headers:
        return ""
    submitted = _header(headers, "auto-submitted")
    if submitted is not None and submitted.strip().lower() not in ("", "no"):
        return "auto-submitted"
    precedence = _header(headers, "precedence")
    if precedence is not None and precedence.strip().lower() in defaults.BULK_PRECEDENCE:
        return "precedence"
    for name in defaults.LIST_HEADERS:
        if _header(headers, name) is not None:
            return name
    return_path = _header(headers, "return-path")
    if return_path is not None and return_path.strip() in ("<>", ""):
        return "return-path"
    return ""


def _keyword(subject: Any, policy: Policy) -> str:
    if not policy.subject_keywords:
        return ""
    folded = _text(subject).casefold()
    for keyword in policy.subject_keywords:
        if keyword in folded:
            return keyword
    return ""


def _exclusion(classes: dict[str, str]) -> Decision | None:
    first = next((a for a, c in classes.items() if c == EXCLUDED), None)
    return None if first is None else Decision(False, SKIP_EXCLUDED, classes, detail=first)


def _decide_by_people(
    people: Iterable[Participant | None], classes: dict[str, str], policy: Policy
) -> Decision:
    excluded = _exclusion(classes)
    if excluded:
        return excluded
    values = set(classes.values())
    if EXTERNAL in values:
        linkable = tuple(
            {
                p.address: p
                for p in people
                if p is not None and classes[p.address] in (EXTERNAL, PERSONAL)
            }.values()
        )
        return Decision(True, KEEP_EXTERNAL, classes, linkable)
    if not policy.rule_internal_only and (INTERNAL in values or IGNORED in values):
        return Decision(True, KEEP_INTERNAL_ALLOWED, classes)
    if BLOCKED in values:
        reason = SKIP_ONLY_BLOCKED
    elif PERSONAL in values:
        reason = SKIP_PERSONAL_ONLY
    elif ROLE in values or TOOL in values:
        reason = SKIP_ROLE_OR_TOOL_ONLY
    elif INTERNAL in values or IGNORED in values:
        reason = SKIP_INTERNAL_ONLY
    else:
        reason = SKIP_NO_PARTICIPANTS
    return Decision(False, reason, classes)


def screen_message(message: Message, policy: Policy) -> Decision:
    folder = folder_key(_text(message.folder)) if message.folder else ""
    if folder and folder in defaults.NEVER_READ_FOLDERS:
        return Decision(False, SKIP_FOLDER_NEVER_READ, detail=folder)
    if message.extra.get("shared_folder"):
        return Decision(False, SKIP_FOLDER_NEVER_READ, detail="shared folder")
    if folder and folder not in policy.folder_keys:
        return Decision(False, SKIP_FOLDER_NOT_SYNCED, detail=folder)
    if message.is_draft:
        return Decision(False, SKIP_DRAFT)
    keyword = _keyword(message.subject, policy)
    if keyword:
        return Decision(False, SKIP_SUBJECT_KEYWORD, detail=keyword)
    # From, To, Cc, Bcc in order (as Message.participants), classified in one pass.
    people = (message.from_, *message.to, *message.cc, *message.bcc)
    classes = policy.classify_all(people)
    # The admin's exclusion list is the most specific reason, so it is reported before the
    # automated-mail rules (both drop the email).
    excluded = _exclusion(classes)
    if excluded:
        return excluded
    if policy.rule_automated:
        header = automated_header(message.headers)
        if header:
            return Decision(False, SKIP_AUTOMATED_HEADER, classes, detail=header)
        for sender in (message.from_, message.sender):
            if (
                sender is not None
                and sender.valid
                and sender.address not in policy.own_addresses
                and policy.is_automated_sender(sender.address)
            ):
                return Decision(False, SKIP_AUTOMATED_SENDER, classes, detail=sender.address)
    return _decide_by_people(people, classes, policy)


def screen_event(event: Event, policy: Policy) -> Decision:
    if not policy.meetings_enabled:
        return Decision(False, SKIP_MEETINGS_OFF)
    sensitivity = _text(event.sensitivity).strip().lower()
    if sensitivity in policy.private_sensitivities:
        return Decision(False, SKIP_PRIVATE_EVENT, detail=sensitivity)
    keyword = _keyword(event.subject, policy)
    if keyword:
        return Decision(False, SKIP_SUBJECT_KEYWORD, detail=keyword)
    people = event.participants
    classes = policy.classify_all(people)
    organizer = event.organizer.address if event.organizer is not None else None
    for attendee in event.attendees:
        # Rooms and equipment booked as resources are tools whatever their address.
        address = attendee.participant.address
        if policy.rule_tools and attendee.type == "resource" and classes.get(address) == EXTERNAL:
            classes[address] = TOOL
    has_invitees = any(a != organizer for a in classes)
    # The exclusion list drops every item, appointments included.
    if has_invitees or EXCLUDED in classes.values():
        return _decide_by_people(people, classes, policy)
    if policy.appointments_enabled:
        return Decision(True, KEEP_APPOINTMENT, classes)
    return Decision(False, SKIP_APPOINTMENT, classes)


def screen(item: Message | Event, policy: Policy) -> Decision:
    """Keep or skip an email or a calendar event, with the reason and every participant's
    class."""
    if isinstance(item, Event):
        return screen_event(item, policy)
    return screen_message(item, policy)
