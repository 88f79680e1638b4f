"""Pure helpers of the pipeline: drafts, links, directions, fingerprints (no I/O)."""

from __future__ import annotations

import hashlib
from datetime import UTC, datetime

from ..crm.base import ActivityDraft, ActivityParticipant, Link, Person, RecordRef
from ..mail.base import Event, Message
from ..rules.keys import email_key, meeting_key, occurrence_key

# Above every CRM's body field: each adapter cuts to its own limit with a visible marker.
MAX_DRAFT_BODY = 100_000


def key_of_message(message: Message) -> str:
    sender = message.from_.address if message.from_ is not None else ""
    recipients = [p.address for p in [*message.to, *message.cc]]
    return email_key(
        message.internet_message_id, sender, recipients, message.subject, message.sent_at
    )


def key_of_event(event: Event) -> str:
    """A single meeting's iCalUId; an occurrence of a series: see `occurrence_key`."""
    if event.series_uid and event.original_start is not None:
        return occurrence_key(event.series_uid, event.original_start)
    return meeting_key(event.ical_uid)


def series_of_event(event: Event) -> str:
    """The key shared by every occurrence of the event's series ("" for a single meeting)."""
    return meeting_key(event.series_uid) if event.series_uid else ""


def roles_of(message: Message) -> dict[str, str]:
    roles: dict[str, str] = {}
    if message.from_ is not None:
        roles.setdefault(message.from_.address, "from")
    for role, people in (("to", message.to), ("cc", message.cc), ("bcc", message.bcc)):
        for person in people:
            roles.setdefault(person.address, role)
    return roles


def direction_of(message: Message, own: frozenset[str], classes: dict[str, str]) -> str:
    sender = message.from_.address if message.from_ is not None else ""
    if classes and all(c in ("internal", "ignored") for c in classes.values()):
        return "internal"
    return "outbound" if sender in own else "inbound"


def person_links(people: dict[str, Person], roles: dict[str, str]) -> list[Link]:
    """A link per picked person with the role of their address in the item."""
    links: dict[RecordRef, Link] = {}
    for address, person in people.items():
        links.setdefault(person.ref, Link(person.ref, roles.get(address, "related")))
    return list(links.values())


def message_draft(
    message: Message, key: str, links: list[Link], direction: str, owner_id: str | None
) -> ActivityDraft:
    roles = roles_of(message)
    when = message.sent_at or message.received_at or datetime.now(UTC)
    return ActivityDraft(
        key=key,
        kind="email",
        subject=message.subject[:255],
        start=when,
        body_text=message.body_text[:MAX_DRAFT_BODY],
        direction=direction,  # type: ignore[arg-type]
        conversation_id=message.conversation_id,
        participants=[
            ActivityParticipant(p.address, p.name, roles.get(p.address, "to"))
            for p in message.participants
            if p.valid
        ],
        links=links,
        owner_id=owner_id,
        extra={"internet_message_id": message.internet_message_id},
    )


def event_draft(event: Event, key: str, links: list[Link], owner_id: str | None) -> ActivityDraft:
    organizer = event.organizer.address if event.organizer is not None else ""
    participants = [
        ActivityParticipant(
            p.address, p.name, "organizer" if p.address == organizer else "attendee"
        )
        for p in event.participants
        if p.valid
    ]
    return ActivityDraft(
        key=key,
        kind="meeting",
        subject=event.subject[:255],
        start=event.start or datetime.now(UTC),
        end=event.end,
        body_text=event.body_text[:MAX_DRAFT_BODY],
        direction="outbound" if event.extra.get("is_organizer") else "inbound",
        participants=participants,
        links=links,
        owner_id=owner_id,
        cancelled=event.cancelled,
        series_key=series_of_event(event),
    )


def event_fingerprint(event: Event) -> str:
    """What we write of a meeting, so an unchanged event read again costs no CRM call."""
    return _fingerprint(event.subject, event.start, event.end, event.cancelled)


def draft_fingerprint(draft: ActivityDraft) -> str:
    """The fingerprint of a meeting written from a draft alone (a removal's cancellation)."""
    return _fingerprint(draft.subject, draft.start, draft.end, draft.cancelled)


def _fingerprint(subject: str, start, end, cancelled: bool) -> str:
    parts = [subject, str(start), str(end), str(cancelled)]
    return hashlib.sha256("\n".join(parts).encode("utf-8", errors="replace")).hexdigest()


def links_as_dicts(links: list[Link]) -> list[dict]:
    return [{"type": link.ref.type, "id": link.ref.id, "role": link.role} for link in links]


def links_from_dicts(values: list[dict]) -> list[Link]:
    out = []
    for value in values or []:
        try:
            out.append(
                Link(RecordRef(value["type"], str(value["id"])), value.get("role", "related"))
            )
        except (KeyError, TypeError):
            continue
    return out


def _link_keys(links) -> set[tuple[str, str]]:
    out = set()
    for link in links or []:
        if isinstance(link, Link):
            out.add((link.ref.type, str(link.ref.id)))
        elif isinstance(link, dict):
            out.add((str(link.get("type")), str(link.get("id"))))
    return out


def has_new_links(wanted: list[Link], have: list[dict]) -> bool:
    """Whether `wanted` links a record that `have` (the ledger's links) does not."""
    return not _link_keys(wanted) <= _link_keys(have)


def merged_links(have: list[dict], more: list[dict]) -> list[dict]:
    out = list(have or [])
    present = _link_keys(out)
    for link in more:
        if (str(link.get("type")), str(link.get("id"))) not in present:
            present.add((str(link.get("type")), str(link.get("id"))))
            out.append(link)
    return out
