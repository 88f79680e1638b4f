"""Each user's sync summary: the facts health takes from their session records, kept
current by the code that records a session's start and outcome (server/sync/summary.py),
so the admin's users table can sort, filter and count by health in SQL at any size."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import Boolean, ForeignKey, Index, Integer, String, false
from sqlalchemy.orm import Mapped, mapped_column

from ..db import Base, UTCDateTime, utcnow


class UserSyncSummary(Base):
    __tablename__ = "user_sync_summaries"
    __table_args__ = (Index("ix_user_sync_summaries_org_success", "org_id", "last_success_at"),)

    user_id: Mapped[int] = mapped_column(
        ForeignKey("users.id", ondelete="CASCADE"), primary_key=True
    )
    org_id: Mapped[int] = mapped_column(ForeignKey("organisations.id", ondelete="CASCADE"))
    # The newest session (its live status, start and progress are read from it). No foreign
    # key: retention may delete it, and then health sees no session either.
    last_session_id: Mapped[int | None] = mapped_column(Integer)
    # Consecutive failed/abandoned sessions, newest first, among those health looks at.
    failures: Mapped[int] = mapped_column(Integer, default=0)
    # The last success among the recent sessions (finished, else started): "up to date".
    recent_success_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    # The last success at all (finished): the "last successful sync" column.
    last_success_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    last_error: Mapped[str] = mapped_column(String(500), default="")
    # The newest finished session was refused by the tenant (application mode's scope).
    last_refused: Mapped[bool] = mapped_column(Boolean, default=False, server_default=false())
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow, onupdate=utcnow)
