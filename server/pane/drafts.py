"""From the email open in the pane and the records the user ticked to the CRM activity draft,
and the draft's JSON form (kept in LedgerEntry.pending_draft while a save waits for the CRM).
Pure: no database, no Flask."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from ..crm.base import ActivityDraft, ActivityParticipant, Link, Person, Record, RecordRef
from .items import PaneItem


def participant_roles(item: PaneItem) -> dict[str, str]:
    """address → the first header it appears in (from, to, cc); invalid addresses left out."""
    roles: dict[str, str] = {}
    message = item.message
    for role, people in (("from", [message.from_]), ("to", message.to), ("cc", message.cc)):
        for person in people:
            if person is not None and person.valid:
                roles.setdefault(person.address, role)
    return roles


def links_for(
    records: dict[RecordRef, Record], refs: list[RecordRef], roles: dict[str, str]
) -> list[Link]:
    """One link per chosen record; a person is linked in the role of their address here."""
    out = []
    for ref in refs:
        record = records[ref]
        role = "related"
        if isinstance(record, Person):
            role = next((roles[e.lower()] for e in record.emails if e.lower() in roles), "related")
        out.append(Link(ref, role))
    return out


def build_draft(
    item: PaneItem, links: list[Link], own_addresses: set[str], owner_id: str | None
) -> ActivityDraft:
    message = item.message
    sender = message.from_.address if message.from_ else ""
    names = {p.address: p.name for p in message.participants}
    participants = [
        ActivityParticipant(address, names.get(address, ""), role)
        for address, role in participant_roles(item).items()
    ]
    return ActivityDraft(
        key=item.key,
        kind="email",
        subject=item.subject,
        # A pane item always has a date in practice; a missing one means "now" (the moment the
        # user saved it), which is also what the fingerprint falls back to.
        start=item.sent_at or datetime.now(UTC),
        body_text=message.body_text,
        direction="outbound" if sender in own_addresses else "inbound",
        conversation_id=item.conversation_id,
        participants=participants,
        links=links,
        owner_id=owner_id,
    )


def draft_to_json(draft: ActivityDraft) -> dict[str, Any]:
    return {
        "key": draft.key,
        "kind": draft.kind,
        "subject": draft.subject,
        "start": draft.start.isoformat(),
        "end": draft.end.isoformat() if draft.end else None,
        "cancelled": draft.cancelled,
        "series_key": draft.series_key,
        "body_text": draft.body_text,
        "direction": draft.direction,
        "conversation_id": draft.conversation_id,
        "owner_id": draft.owner_id,
        "participants": [[p.address, p.name, p.role] for p in draft.participants],
        "links": [[link.ref.type, link.ref.id, link.role] for link in draft.links],
    }


def draft_from_json(data: dict[str, Any]) -> ActivityDraft:
    # "kind", "end", "cancelled" and "series_key" came with meetings: older drafts are emails.
    end = data.get("end")
    return ActivityDraft(
        key=data["key"],
        kind=data.get("kind", "email"),
        subject=data["subject"],
        start=datetime.fromisoformat(data["start"]).astimezone(UTC),
        end=datetime.fromisoformat(end).astimezone(UTC) if end else None,
        cancelled=bool(data.get("cancelled", False)),
        series_key=data.get("series_key", ""),
        body_text=data["body_text"],
        direction=data["direction"],
        conversation_id=data["conversation_id"],
        owner_id=data["owner_id"],
        participants=[ActivityParticipant(a, n, r) for a, n, r in data["participants"]],
        links=[Link(RecordRef(t, i), r) for t, i, r in data["links"]],
    )


def link_dicts(links: list[Link]) -> list[dict[str, str]]:
    return [{"type": link.ref.type, "id": link.ref.id, "role": link.role} for link in links]


def merge_links(old: list[dict], new: list[Link]) -> list[dict]:
    """The ledger's links plus those of `new` it lacks (by record, whatever the role)."""
    seen = {(d["type"], str(d["id"])) for d in old}
    return [*old, *(d for d in link_dicts(new) if (d["type"], d["id"]) not in seen)]


def with_ledger_links(draft: ActivityDraft, ledger_links: list[dict]) -> ActivityDraft:
    """The draft plus the records added to the ledger while it waited (a second click on
    Save while the first was pending)."""
    known = {(link.ref.type, link.ref.id) for link in draft.links}
    extra = [
        Link(RecordRef(d["type"], str(d["id"])), d.get("role", "related"))
        for d in ledger_links
        if (d["type"], str(d["id"])) not in known
    ]
    draft.links = [*draft.links, *extra]
    return draft
