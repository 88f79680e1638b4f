"""Record cards for the pane: a card per matched person, as the peers' sidebars show them.

The pane asks for the cards after it has drawn the suggestions (so the suggestions stay as
fast as before) with the people it matched; one batched adapter call serves them all.
"""

from __future__ import annotations

from datetime import date, datetime
from typing import Any

from flask import request

from ..crm import crm_for
from ..crm.base import CRMError, PersonCard, RecordRef
from ..db import get_session
from ..errors import ApiError
from ..models.tenancy import User
from .records import crm_error, record_json

MAX_PEOPLE = 25
RECENT = 5


def _when(value: datetime | date | None) -> str | None:
    return value.isoformat() if value is not None else None


def _absolute(url: str) -> str:
    """The built-in CRM's pages are ours: a path becomes a URL of this server."""
    return request.host_url.rstrip("/") + url if url.startswith("/") else url


def card_json(card: PersonCard, owner_id: str | None) -> dict[str, Any]:
    opportunities = [
        {**record_json(o.ref, o), "owned_by_you": bool(owner_id) and o.owner_id == owner_id}
        for o in card.opportunities
    ]
    return {
        "ref": card.ref.as_dict(),
        "name": card.name,
        "owner": card.owner_name,
        "owned_by_you": bool(owner_id) and card.owner_id == owner_id,
        "account": (
            {"id": card.account_id, "name": card.account_name}
            if card.account_id
            else ({"id": None, "name": card.account_name} if card.account_name else None)
        ),
        "last_interaction": _when(card.last_activity_at),
        "recent": [
            {"id": a.id, "kind": a.kind, "subject": a.subject, "at": _when(a.at)}
            for a in card.recent
        ],
        "open": [o for o in opportunities if not o["is_closed"]],
        "closed": [o for o in opportunities if o["is_closed"]],
        "url": _absolute(card.url),
    }


def person_cards(user: User, refs: list[RecordRef]) -> dict[str, Any]:
    people = [r for r in refs if r.type in ("contact", "lead")]
    if len(people) != len(refs):
        raise ApiError(400, "invalid_record_type", "cards are for contacts and leads")
    if len(people) > MAX_PEOPLE:
        raise ApiError(413, "too_large", f"at most {MAX_PEOPLE} people", field="people")
    crm = crm_for(user)
    try:
        owner_id = crm.owner_id_for(user)
        cards = crm.person_cards(people, recent=RECENT)
    except CRMError as exc:
        get_session().rollback()
        raise crm_error(exc) from None
    return {"cards": [card_json(cards[r], owner_id) for r in people if r in cards]}
