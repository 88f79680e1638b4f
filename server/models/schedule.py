"""When each mailbox is next looked at by the scheduler: one row per user, indexed by time, so
a tick reads only the mailboxes that are due instead of every user's session history."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import ForeignKey
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.orm import Mapped, Session, mapped_column

from ..db import Base, UTCDateTime, utcnow


class SyncSchedule(Base):
    __tablename__ = "sync_schedules"

    user_id: Mapped[int] = mapped_column(
        ForeignKey("users.id", ondelete="CASCADE"), primary_key=True
    )
    org_id: Mapped[int] = mapped_column(ForeignKey("organisations.id", ondelete="CASCADE"))
    # The next moment the tick looks at this mailbox (a hint, checked against its sessions).
    due_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow, index=True)


def mark_due(db: Session, user_id: int, org_id: int, when: datetime | None = None) -> None:
    """Make the scheduler look at this mailbox at `when` (now by default), e.g. after a
    sign-in renewed a grant. Upsert; the caller commits."""
    when = when or utcnow()
    values = {"user_id": user_id, "org_id": org_id, "due_at": when}
    dialect = db.get_bind().dialect.name
    if dialect in ("postgresql", "sqlite"):
        module = postgresql if dialect == "postgresql" else sqlite
        statement = module.insert(SyncSchedule).values(**values)
        db.execute(
            statement.on_conflict_do_update(index_elements=["user_id"], set_={"due_at": when})
        )
        return
    row = db.get(SyncSchedule, user_id)
    if row is None:
        db.add(SyncSchedule(**values))
    else:
        row.due_at = when
