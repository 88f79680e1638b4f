"""The email the pane shows, as the pane sends it: validated, its body sanitised to plain text
and truncated, and its idempotency key computed (internetMessageId, else the fingerprint).

Office.js in read mode has no sent date (only dateTimeCreated, when the item was created in the
mailbox) and may not have a recently sent item's internetMessageId yet: the pane sends
`created`, and server/pane/graph_facts.py completes the item from Graph (`with_graph_facts`)."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, replace
from datetime import UTC, datetime
from functools import lru_cache
from typing import Any

from ..errors import ApiError
from ..mail.base import Message, Participant, parse_participant
from ..mail.html_text import html_to_text
from ..rules.keys import email_key
from .inputs import field, require_object

MAX_SUBJECT = 2_000
MAX_BODY_INPUT = 200_000  # characters the pane may send at most (it caps at 32,000)
MAX_BODY_STORED = 20_000  # characters of text we keep for the CRM activity
MAX_RECIPIENTS = 1_000
MAX_ID = 1_000


@dataclass(frozen=True)
class PaneItem:
    key: str
    message: Message
    item_id: str  # REST id of the item in the user's mailbox ("" on hosts that lack it)
    sent_at: datetime | None
    created_at: datetime | None = None  # Office's dateTimeCreated: a fallback for sent_at
    raw_subject: str = ""  # as Outlook gave it: the fingerprint hashes this one

    @property
    def subject(self) -> str:
        return self.message.subject

    @property
    def conversation_id(self) -> str:
        return self.message.conversation_id


def body_text(raw: str) -> str:
    """HTML or text from the pane → plain text: tags stripped, entities decoded, whitespace
    tidied, truncated. The result is data; the pane renders it as text."""
    return html_to_text(raw, MAX_BODY_STORED)


@lru_cache(maxsize=8192)
def _parsed(address: str, display: str) -> Participant:
    # Address validation is the costliest step of a suggestions call, and a mailbox sees the
    # same people again and again; Participant is immutable, so sharing it is safe.
    return parse_participant(address, display)


def _participant(value: Any, name: str, *, strict: bool) -> Participant:
    data = require_object(value, name)
    address = field(data, "address", str, max_length=320, single_line=True)
    display = field(data, "name", str, required=False, default="", max_length=500)
    found = _parsed(address, display)
    if strict and not found.valid:
        raise ApiError(
            400,
            "invalid_address",
            f'{name}.address "{address[:100]}" is not a valid email address',
            field=name,
        )
    return found


def _recipients(data: Mapping[str, Any], name: str) -> list[Participant]:
    values = field(data, name, list, required=False, default=[])
    if len(values) > MAX_RECIPIENTS:
        raise ApiError(413, "too_large", f"{name} has more than {MAX_RECIPIENTS} entries")
    # A recipient Outlook could not resolve stays in the list as "invalid"; only its shape is
    # checked here.
    return [_participant(v, f"{name}[{i}]", strict=False) for i, v in enumerate(values)]


def _date(data: Mapping[str, Any], name: str = "date") -> datetime | None:
    raw = field(data, name, str, required=False, default="", max_length=64)
    if not raw:
        return None
    try:
        moment = datetime.fromisoformat(raw.replace("Z", "+00:00"))
    except ValueError:
        raise ApiError(
            400, "invalid_date", f"{name} must be an ISO 8601 date-time", field=name
        ) from None
    # In UTC: the fingerprint takes the minute of this time, and the sync computes it in UTC.
    return moment.astimezone(UTC) if moment.tzinfo else moment.replace(tzinfo=UTC)


def parse_item(value: Any, *, with_body: bool = True) -> PaneItem:
    """`with_body=False` for views that never store the body: it is still checked, but not
    turned into text (the costliest step for a long email)."""
    data = require_object(value, "item")
    subject = field(data, "subject", str, required=False, default="", max_length=MAX_SUBJECT)
    sender = _participant(field(data, "from", dict), "from", strict=True)
    to = _recipients(data, "to")
    cc = _recipients(data, "cc")
    sent_at = _date(data)
    created_at = _date(data, "created")
    ids = {"required": False, "default": "", "single_line": True}
    message_id = field(data, "internet_message_id", str, max_length=MAX_ID, **ids)
    conversation = field(data, "conversation_id", str, max_length=512, **ids)
    item_id = field(data, "item_id", str, max_length=MAX_ID, **ids)
    body = field(
        data,
        "body",
        str,
        required=False,
        default="",
        max_length=MAX_BODY_INPUT,
        oversize_status=413,
    )
    clean_subject = "".join(ch for ch in subject if ch.isprintable())[:255]
    message = Message(
        id=item_id,
        internet_message_id=message_id.strip(),
        conversation_id=conversation,
        subject=clean_subject,
        sender=sender,
        from_=sender,
        to=to,
        cc=cc,
        received_at=sent_at,
        sent_at=sent_at,
        body_text=body_text(body) if body and with_body else "",
    )
    item = PaneItem(
        key="",
        message=message,
        item_id=item_id,
        sent_at=sent_at,
        created_at=created_at,
        raw_subject=subject,
    )
    return replace(item, key=_key(item))


def _key(item: PaneItem) -> str:
    message = item.message
    return email_key(
        message.internet_message_id,
        sender=message.sender.address if message.sender else "",
        recipients=[p.address for p in message.to + message.cc],
        # The subject as Outlook gave it, not the tidied one: the sync fingerprints the raw
        # subject Graph returns, and both must produce the same key.
        subject=item.raw_subject,
        # Without a sent date (Graph unreachable), the creation time is the closest we have.
        sent_at=item.sent_at or item.created_at,
    )


def with_graph_facts(
    item: PaneItem, internet_message_id: str, sent_at: datetime | None
) -> PaneItem:
    """The item completed with what Graph says of it (the sync's source): its key is then the
    one the sync computes for the same message."""
    message = replace(
        item.message,
        internet_message_id=internet_message_id.strip() or item.message.internet_message_id,
        sent_at=sent_at or item.message.sent_at,
        received_at=item.message.received_at or sent_at,
    )
    done = replace(item, message=message, sent_at=sent_at or item.sent_at)
    return replace(done, key=_key(done))


def with_recipients(item: PaneItem, to: list[Participant], cc: list[Participant]) -> PaneItem:
    """The item with Graph's full To and Cc (Office.js may give only the first 20)."""
    done = replace(item, message=replace(item.message, to=to, cc=cc))
    return replace(done, key=_key(done))
