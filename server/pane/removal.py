"""Undoing a save from the pane: unlink a record from a saved email, or remove the email from
the CRM altogether (an email saved by mistake). Both act on the CRM itself, then on the ledger
row, so the pane's ticks stay what the CRM holds; both are in the audit log. An unlink also
takes the records out of the user's auto-save rule of that thread (threads.follow_unlink), so
the thread's later emails are linked to what the user left linked.

A removed email keeps its ledger row with status "removed": the activity writer never claims
such a row, so neither the background sync, nor thread auto-save, nor the tick saves it again;
only the user's explicit "Save" does (saves.py reclaims it)."""

from __future__ import annotations

from typing import Any

from ..admin.audit import record_audit
from ..crm import crm_for
from ..crm.base import CRM, CRMError, CRMValidationError, RecordRef
from ..db import get_session
from ..errors import ApiError
from ..models.ledger import LedgerEntry
from ..models.tenancy import User
from .drafts import link_dicts
from .items import PaneItem
from .records import crm_error
from .state import ledger_entry, saved_json, thread_rule
from .threads import follow_unlink

REMOVED = "removed"


def _saved_entry(user: User, crm: CRM, item: PaneItem) -> LedgerEntry:
    get_session().commit()  # no transaction open across the CRM call
    entry = ledger_entry(user, crm, item.key)
    if entry is None or entry.status != "saved" or not entry.activity_id:
        raise ApiError(409, "not_saved", "This email is not saved in the CRM.")
    return entry


def unlink(user: User, item: PaneItem, refs: list[RecordRef]) -> dict[str, Any]:
    crm = crm_for(user)
    entry = _saved_entry(user, crm, item)
    activity_id, before = entry.activity_id, list(entry.links or [])
    session = get_session()
    session.commit()
    try:
        left = crm.unlink_email(activity_id, refs)
        session.commit()  # the built-in CRM writes through this session
    except CRMError as exc:
        session.rollback()
        if isinstance(exc, CRMValidationError):
            raise ApiError(409, "unlink_refused", str(exc)) from None
        raise crm_error(exc) from None
    entry = ledger_entry(user, crm, item.key)
    entry.links = link_dicts(left)  # what the CRM holds now, roles included
    rule_before = thread_rule(user, item.conversation_id)
    rule_links = list(rule_before.links or []) if rule_before is not None else None
    thread = follow_unlink(user, item.conversation_id, refs)
    session.commit()
    after: dict[str, Any] = {"unlinked": sorted(f"{r.type}:{r.id}" for r in refs)}
    if thread is not None and thread["links"] != rule_links:
        after["thread_rule_records"] = sorted(f"{d['type']}:{d['id']}" for d in thread["links"])
    record_audit(
        user.org_id,
        "activity.unlinked",
        actor=user,
        target_type="email",
        target_id=entry.id,
        target=item.key,
        before={"records": sorted({f"{d['type']}:{d['id']}" for d in before})},
        after=after,
    )
    out = saved_json(entry, crm)
    if thread is not None:
        out["thread"] = thread
    return out


def remove(user: User, item: PaneItem) -> dict[str, Any]:
    crm = crm_for(user)
    entry = _saved_entry(user, crm, item)
    activity_id, before = entry.activity_id, list(entry.links or [])
    session = get_session()
    session.commit()
    try:
        crm.delete_emails([activity_id])
        session.commit()
    except CRMError as exc:
        session.rollback()
        raise crm_error(exc) from None
    entry = ledger_entry(user, crm, item.key)
    entry.status, entry.links, entry.pending_draft = REMOVED, [], None
    entry.activity_id, entry.last_error, entry.user_id = None, "", user.id
    session.commit()
    record_audit(
        user.org_id,
        "activity.removed_from_crm",
        actor=user,
        target_type="email",
        target_id=entry.id,
        target=item.key,
        before={
            "activity_id": activity_id,
            "records": sorted(f"{d['type']}:{d['id']}" for d in before),
        },
        after={"status": REMOVED},
    )
    return saved_json(entry, crm)
