"""What Courier already knows about an email and its thread: the ledger row of this email for
the user's CRM, and the user's auto-save rule of its conversation."""

from __future__ import annotations

from functools import cache
from typing import Any

from sqlalchemy import bindparam, select

from ..crm.base import CRM, RecordRef
from ..db import get_session
from ..models.ledger import LedgerEntry, ThreadRule
from ..models.tenancy import User
from ..sync.ledger_io import crm_target


# Both statements run on every suggestion: built once with bind parameters, since building
# one per call cost more than running it (bench/pane.py).
@cache
def _ledger_statement():
    return select(LedgerEntry).where(
        LedgerEntry.org_id == bindparam("org_id"),
        LedgerEntry.item_key == bindparam("key"),
        LedgerEntry.crm_target == bindparam("target"),
    )


@cache
def _thread_rule_statement():
    return select(ThreadRule).where(
        ThreadRule.user_id == bindparam("user_id"),
        ThreadRule.conversation_id == bindparam("conversation_id"),
    )


def ledger_entry(user: User, crm: CRM, key: str) -> LedgerEntry | None:
    params = {"org_id": user.org_id, "key": key, "target": crm_target(crm)}
    return get_session().scalar(_ledger_statement(), params)


def thread_rule(user: User, conversation_id: str) -> ThreadRule | None:
    if not conversation_id:
        return None
    params = {"user_id": user.id, "conversation_id": conversation_id}
    return get_session().scalar(_thread_rule_statement(), params)


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
