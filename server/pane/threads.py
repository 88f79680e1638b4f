"""Auto-save of a whole conversation: the user's thread rule, which the background sync
follows for every later email of that conversation."""

from __future__ import annotations

from typing import Any

from sqlalchemy.exc import IntegrityError

from ..crm import crm_for
from ..crm.base import RecordRef
from ..db import get_session
from ..errors import ApiError
from ..models.ledger import ThreadRule
from ..models.tenancy import User
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
    if refs:
        rule.links = [r.as_dict() for r in refs]
    rule.enabled = enabled
    try:
        session.commit()
    except IntegrityError:
        # Another request created this rule a moment ago: apply the change to theirs.
        session.rollback()
        return set_thread_rule(user, conversation_id, refs, enabled)
    return thread_json(conversation_id, rule)
