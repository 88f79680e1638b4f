"""The email the pane shows, as the pane sends it: validated, its body sanitised to plain text
and truncated, and its idempotency key computed (internetMessageId, else the fingerprint)."""

from __future__ import annotations

import html
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from functools import lru_cache
from typing import Any

import nh3

from ..errors import ApiError
from ..mail.base import Message, Participant, parse_participant
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

    @property
    def subject(self) -> str:
        return self.message.subject

    @property
    def conversation_id(self) -> str:
        return self.message.conversation_id


def body_text(raw: str) -> str:
    """HTML or text from the pane → plain text: tags stripped, entities decoded, whitespace
    tidied, truncated. The result is data; the pane renders it as text."""
    stripped = html.unescape(nh3.clean(raw, tags=set(), clean_content_tags={"script", "style"}))
    lines = [" ".join(line.split()) for line in stripped.splitlines()]
    tidy = "\n".join(lines).strip()
    while "\n\n\n" in tidy:
        tidy = tidy.replace("\n\n\n", "\n\n")
    return tidy[:MAX_BODY_STORED]


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


def _date(data: Mapping[str, Any]) -> datetime | None:
    raw = field(data, "date", str, required=False, default="", max_length=64)
    if not raw:
        return None
    try:
        moment = datetime.fromisoformat(raw.replace("Z", "+00:00"))
    except ValueError:
        raise ApiError(
            400, "invalid_date", "date must be an ISO 8601 date-time", field="date"
        ) from None
    # In UTC: the fingerprint takes the minute of this time, and the sync computes it in UTC.
    return moment.astimezone(UTC) if moment.tzinfo else moment.replace(tzinfo=UTC)


def parse_item(value: Any) -> PaneItem:
    data = require_object(value, "item")
    subject = field(data, "subject", str, required=False, default="", max_length=MAX_SUBJECT)
    sender = _participant(field(data, "from", dict), "from", strict=True)
    to = _recipients(data, "to")
    cc = _recipients(data, "cc")
    sent_at = _date(data)
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
        body_text=body_text(body) if body else "",
    )
    key = email_key(
        message_id,
        sender=sender.address,
        recipients=[p.address for p in to + cc],
        # The subject as Outlook gave it, not the tidied one: the sync fingerprints the raw
        # subject Graph returns, and both must produce the same key.
        subject=subject,
        sent_at=sent_at,
    )
    return PaneItem(key=key, message=message, item_id=item_id, sent_at=sent_at)
