"""Unlinking records from a logged email or meeting, and deleting one, in the built-in CRM.
Only on a user's explicit request (the pane, the meetings API): the sync never deletes."""

from __future__ import annotations

from sqlalchemy import and_, delete, or_, select
from sqlalchemy.orm import Session

from ..base import CRMNotFound, Link, RecordRef
from .activities import _links_of
from .models import CrmActivity, CrmActivityLink
from .records import record_id, record_ids


def _activity_id(session: Session, org_id: int, activity_id: str, kind: str) -> int:
    number = record_id(activity_id)
    found = number and session.scalar(
        select(CrmActivity.id).where(
            CrmActivity.org_id == org_id, CrmActivity.id == number, CrmActivity.kind == kind
        )
    )
    if not found:
        raise CRMNotFound(f"no {kind} {activity_id} in this organisation")
    return found


def unlink(
    session: Session, org_id: int, activity_id: str, refs: list[RecordRef], kind: str = "email"
) -> list[Link]:
    """Drop the activity's links to `refs` (every role); returns the links it still has."""
    number = _activity_id(session, org_id, activity_id, kind)
    wanted = [
        and_(CrmActivityLink.record_type == ref.type, CrmActivityLink.record_id == n)
        for ref in refs
        if (n := record_id(ref.id)) is not None
    ]
    if wanted:
        session.execute(
            delete(CrmActivityLink).where(
                CrmActivityLink.org_id == org_id,
                CrmActivityLink.activity_id == number,
                or_(*wanted),
            )
        )
        session.flush()
    return _links_of(session, [number]).get(number, [])


def delete_activities(
    session: Session, org_id: int, activity_ids: list[str], kind: str = "email"
) -> None:
    """Delete these activities of `kind` with their links; ones already gone are ignored."""
    numbers = record_ids(activity_ids)
    if not numbers:
        return
    ours = select(CrmActivity.id).where(
        CrmActivity.org_id == org_id, CrmActivity.id.in_(numbers), CrmActivity.kind == kind
    )
    # Links first: SQLite enforces ON DELETE CASCADE only with its foreign_keys pragma on.
    session.execute(delete(CrmActivityLink).where(CrmActivityLink.activity_id.in_(ours)))
    session.execute(
        delete(CrmActivity).where(
            CrmActivity.org_id == org_id, CrmActivity.id.in_(numbers), CrmActivity.kind == kind
        )
    )
    session.flush()
