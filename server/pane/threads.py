"""Auto-save of a whole conversation: the user's thread rule, which the background sync
follows for the emails of that conversation already in the mailbox (read once, by the next
session: server/sync/threads.py) and for every later one."""

from __future__ import annotations

from typing import Any

from sqlalchemy.exc import IntegrityError

from ..crm import crm_for
from ..crm.base import RecordRef
from ..db import get_session
from ..errors import ApiError
from ..models.ledger import ThreadRule
from ..models.tenancy import User
from ..sync.jobs import enqueue_session
from .records import existing_records
from .state import thread_json, thread_rule


def set_thread_rule(
    user: User, conversation_id: str, refs: list[RecordRef], enabled: bool
) -> dict[str, Any]:
    if not conversation_id:
        raise ApiError(400, "missing_field", "conversation_id is required", field="conversation_id")
    session = get_session()
    rule = thread_rule(user, conversation_id)
    if enabled and not refs and not (rule and rule.links):
        raise ApiError(
            400, "missing_field", "choose the records this thread saves to", field="links"
        )
    if refs:
        existing_records(crm_for(user), refs)
    if rule is None:
        rule = ThreadRule(
            org_id=user.org_id, user_id=user.id, conversation_id=conversation_id, links=[]
        )
        session.add(rule)
    links = [r.as_dict() for r in refs] if refs else list(rule.links or [])
    # Switched on, or pointed at other records: the emails already in the mailbox are read
    # (again) by the next sync session, which saves them to these records.
    read_thread = enabled and (not rule.enabled or rule.id is None or links != rule.links)
    rule.links = links
    rule.enabled = enabled
    if read_thread:
        rule.backfilled_at = None
    try:
        session.commit()
    except IntegrityError:
        # Another request created this rule a moment ago: apply the change to theirs.
        session.rollback()
        return set_thread_rule(user, conversation_id, refs, enabled)
    if read_thread and user.sync_enabled:
        enqueue_session(user.id, "thread")
    return thread_json(conversation_id, rule)


def follow_unlink(user: User, conversation_id: str, refs: list[RecordRef]) -> dict[str, Any] | None:
    """The user unlinked `refs` from a saved email of this conversation: their thread rule's
    records follow (later emails of the thread are linked to what the user left linked, not
    to what they took away). A rule left with no record is switched off: it has nowhere to
    save to. Already-saved emails keep their links. In the caller's transaction; returns the
    thread as the pane shows it, or None when the user has no rule there."""
    rule = thread_rule(user, conversation_id)
    if rule is None:
        return None
    gone = {(r.type, str(r.id)) for r in refs}
    kept = [d for d in rule.links or [] if (d.get("type"), str(d.get("id"))) not in gone]
    if kept != list(rule.links or []):
        rule.links = kept
        if not kept:
            rule.enabled = False
    return thread_json(conversation_id, rule)
