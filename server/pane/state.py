"""What Courier already knows about an email and its thread: the ledger row of this email for
the user's CRM, and the user's auto-save rule of its conversation."""

from __future__ import annotations

from typing import Any

from sqlalchemy import select

from ..crm.base import CRM, RecordRef
from ..db import get_session
from ..models.ledger import LedgerEntry, ThreadRule
from ..models.tenancy import User
from ..sync.ledger_io import crm_target


def ledger_entry(user: User, crm: CRM, key: str) -> LedgerEntry | None:
    return get_session().scalar(
        select(LedgerEntry).where(
            LedgerEntry.org_id == user.org_id,
            LedgerEntry.item_key == key,
            LedgerEntry.crm_target == crm_target(crm),
        )
    )


def thread_rule(user: User, conversation_id: str) -> ThreadRule | None:
    if not conversation_id:
        return None
    return get_session().scalar(
        select(ThreadRule).where(
            ThreadRule.user_id == user.id, ThreadRule.conversation_id == conversation_id
        )
    )


def saved_json(entry: LedgerEntry | None, crm: CRM) -> dict[str, Any]:
    """The saved state the pane shows, with the names of the linked records."""
    if entry is None:
        return {"status": None, "links": []}
    refs = [RecordRef(link["type"], str(link["id"])) for link in entry.links or []]
    refs = list(dict.fromkeys(refs))
    records = crm.get_records(refs) if refs else {}
    return {
        "status": entry.status,
        "source": entry.source,
        "activity_id": entry.activity_id,
        "saved_at": entry.updated_at.isoformat() if entry.updated_at else None,
        "error": entry.last_error if entry.status != "saved" else "",
        "links": [
            {"type": r.type, "id": r.id, "name": records[r].name if r in records else ""}
            for r in refs
        ],
    }


def thread_json(conversation_id: str, rule: ThreadRule | None) -> dict[str, Any]:
    return {
        "conversation_id": conversation_id,
        "auto_save": bool(rule and rule.enabled),
        "links": list(rule.links or []) if rule else [],
    }
