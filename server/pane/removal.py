"""Undoing a save: unlink a record from a saved email or meeting, or remove it from the CRM
altogether (saved by mistake). Both act on the CRM itself, then on the ledger row, so the
pane's ticks stay what the CRM holds; both are in the audit log. An email's unlink also takes
the records out of the user's auto-save rule of that thread (threads.follow_unlink), so the
thread's later emails are linked to what the user left linked.

A removed item keeps its ledger row with status "removed": the activity writer never claims
such a row, so neither the background sync (for a meeting: not its later updates, nor another
attendee's copy of it in the organisation), nor thread auto-save, nor the tick saves it again;
only the user's explicit "Save" of an email does (saves.py reclaims it)."""

from __future__ import annotations

from collections.abc import Callable
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


def _saved_entry(user: User, crm: CRM, key: str, kind: str) -> LedgerEntry:
    get_session().commit()  # no transaction open across the CRM call
    entry = ledger_entry(user, crm, key)
    if entry is None or entry.kind != kind or entry.status != "saved" or not entry.activity_id:
        raise ApiError(409, "not_saved", f"This {kind} is not saved in the CRM.")
    return entry


def unlink(user: User, item: PaneItem, refs: list[RecordRef]) -> dict[str, Any]:
    """Unlink `refs` from the saved email open in the pane (and from its thread's rule)."""
    rule = thread_rule(user, item.conversation_id)
    rule_links = list(rule.links or []) if rule is not None else None
    followed: dict[str, Any] = {}

    def follow() -> dict[str, Any]:
        thread = follow_unlink(user, item.conversation_id, refs)
        if thread is None:
            return {}
        followed["thread"] = thread
        if thread["links"] == rule_links:
            return {}
        return {"thread_rule_records": sorted(f"{d['type']}:{d['id']}" for d in thread["links"])}

    out = unlink_saved(user, item.key, "email", refs, follow)
    return {**out, **followed}


def unlink_saved(
    user: User,
    key: str,
    kind: str,
    refs: list[RecordRef],
    also: Callable[[], dict[str, Any]] | None = None,
) -> dict[str, Any]:
    """Unlink `refs` from the user's organisation's saved email or meeting `key`, in the CRM
    first; `also` runs in the same commit as the ledger's change and adds to the audit."""
    crm = crm_for(user)
    entry = _saved_entry(user, crm, key, kind)
    activity_id, before = entry.activity_id, list(entry.links or [])
    session = get_session()
    session.commit()
    write = crm.unlink_email if kind == "email" else crm.unlink_meeting
    try:
        left = write(activity_id, refs)
        session.commit()  # the built-in CRM writes through this session
    except CRMError as exc:
        session.rollback()
        if isinstance(exc, CRMValidationError):
            raise ApiError(409, "unlink_refused", str(exc)) from None
        raise crm_error(exc) from None
    entry = ledger_entry(user, crm, key)
    entry.links = link_dicts(left)  # what the CRM holds now, roles included
    after: dict[str, Any] = {"unlinked": sorted(f"{r.type}:{r.id}" for r in refs)}
    if also is not None:
        after.update(also())
    session.commit()
    record_audit(
        user.org_id,
        "activity.unlinked",
        actor=user,
        target_type=kind,
        target_id=entry.id,
        target=key,
        before={"records": sorted({f"{d['type']}:{d['id']}" for d in before})},
        after=after,
    )
    return saved_json(entry, crm)


def remove(user: User, item: PaneItem) -> dict[str, Any]:
    """Remove the saved email open in the pane from the CRM."""
    return remove_saved(user, item.key, "email")


def remove_saved(user: User, key: str, kind: str) -> dict[str, Any]:
    """Delete the saved email or meeting `key` from the CRM; its ledger row becomes "removed"
    (held by this user), so nothing but the user's own save writes it again."""
    crm = crm_for(user)
    entry = _saved_entry(user, crm, key, kind)
    activity_id, before = entry.activity_id, list(entry.links or [])
    session = get_session()
    session.commit()
    delete = crm.delete_emails if kind == "email" else crm.delete_meetings
    try:
        delete([activity_id])
        session.commit()
    except CRMError as exc:
        session.rollback()
        raise crm_error(exc) from None
    entry = ledger_entry(user, crm, key)
    entry.status, entry.links, entry.pending_draft = REMOVED, [], None
    entry.activity_id, entry.last_error, entry.user_id = None, "", user.id
    session.commit()
    record_audit(
        user.org_id,
        "activity.removed_from_crm",
        actor=user,
        target_type=kind,
        target_id=entry.id,
        target=key,
        before={
            "activity_id": activity_id,
            "records": sorted(f"{d['type']}:{d['id']}" for d in before),
        },
        after={"status": REMOVED},
    )
    return saved_json(entry, crm)
