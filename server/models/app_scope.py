"""Who application mode syncs: the admin's choice (individual users or one Microsoft 365
group), one row per organisation, and the outcome of the last directory refresh.

The resulting membership lives on the users themselves (`User.app_scope`: 'in' | 'removed',
owned by the application-mode migration); these tables only hold what the admin chose, so a
directory refresh can recompute the members from it.
"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import ForeignKey, Integer, String, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from ..db import Base, UTCDateTime, utcnow

SCOPE_KINDS = ("users", "group")


class AppScopeChoice(Base):
    __tablename__ = "app_scope_choices"

    org_id: Mapped[int] = mapped_column(
        ForeignKey("organisations.id", ondelete="CASCADE"), primary_key=True
    )
    # "users": the picked people below; "group": every (transitive) member of group_id.
    kind: Mapped[str] = mapped_column(String(16), default="users")
    group_id: Mapped[str] = mapped_column(String(64), default="")
    group_name: Mapped[str] = mapped_column(String(256), default="")
    # The last directory refresh in application mode: when, joiners, leavers, or why it failed.
    refreshed_at: Mapped[datetime | None] = mapped_column(UTCDateTime, nullable=True)
    last_joiners: Mapped[int] = mapped_column(Integer, default=0)
    last_leavers: Mapped[int] = mapped_column(Integer, default=0)
    last_error: Mapped[str] = mapped_column(String(500), default="")
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)


class AppScopePick(Base):
    """One person the admin picked by hand (kind "users")."""

    __tablename__ = "app_scope_picks"
    __table_args__ = (UniqueConstraint("org_id", "object_id"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    org_id: Mapped[int] = mapped_column(ForeignKey("organisations.id", ondelete="CASCADE"))
    object_id: Mapped[str] = mapped_column(String(64))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
