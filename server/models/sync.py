"""Sync state per (user, folder), the record of every sync session, and meeting snapshots.

The delta link (or the next page's link) is stored only in the transaction that saved the
page's items, so a crash resumes at the first page not yet saved.
"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import (
    JSON,
    Boolean,
    ForeignKey,
    Index,
    Integer,
    String,
    Text,
    UniqueConstraint,
    text,
)
from sqlalchemy.orm import Mapped, mapped_column

from ..db import Base, UTCDateTime, utcnow

# "paused": the CRM's API budget asked us to wait (not a failure: no back-off, never stalls).
SESSION_STATUSES = (
    "running",
    "succeeded",
    "failed",
    "needs_reauth",
    "paused",
    "abandoned",
    # Application mode: the tenant keeps the mailbox out of the application's scope (403).
    "refused",
    "disabled",
)
CALENDAR = "calendar"  # the SyncState "folder" of the primary calendar


class SyncState(Base):
    __tablename__ = "sync_states"
    __table_args__ = (UniqueConstraint("user_id", "folder"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    org_id: Mapped[int] = mapped_column(
        ForeignKey("organisations.id", ondelete="CASCADE"), index=True
    )
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"))
    # Folder key as configured (inbox, sentitems, clients) or "calendar".
    folder: Mapped[str] = mapped_column(String(255))
    folder_id: Mapped[str] = mapped_column(String(512), default="")
    folder_name: Mapped[str] = mapped_column(String(255), default="")
    # The link to read next: a nextLink mid-round, else the round's deltaLink; "" = from start.
    resume_link: Mapped[str] = mapped_column(Text, default="")
    # True once a first full round finished (later sessions read only changes).
    initial_done: Mapped[bool] = mapped_column(Boolean, default=False)
    # Calendar: the window frozen into the delta link (re-baselined when it moves).
    window_start: Mapped[datetime | None] = mapped_column(UTCDateTime)
    window_end: Mapped[datetime | None] = mapped_column(UTCDateTime)
    estimate: Mapped[int] = mapped_column(Integer, default=0)
    full_reads: Mapped[int] = mapped_column(Integer, default=0)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow, onupdate=utcnow)


class SyncSession(Base):
    __tablename__ = "sync_sessions"
    __table_args__ = (
        Index("ix_sync_sessions_user_started", "user_id", "started_at"),
        # Retention deletes by age across all users (server/retention.py).
        Index("ix_sync_sessions_started_at", "started_at"),
        # At most one running session per mailbox, whatever the queue does.
        Index(
            "uq_sync_sessions_one_running",
            "user_id",
            unique=True,
            sqlite_where=text("status = 'running'"),
            postgresql_where=text("status = 'running'"),
        ),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    org_id: Mapped[int] = mapped_column(
        ForeignKey("organisations.id", ondelete="CASCADE"), index=True
    )
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"))
    status: Mapped[str] = mapped_column(String(16), default="running")
    trigger: Mapped[str] = mapped_column(String(16), default="schedule")
    initial: Mapped[bool] = mapped_column(Boolean, default=False)
    started_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    heartbeat_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    finished_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    duration_ms: Mapped[int] = mapped_column(Integer, default=0)
    # "host:pid" of the worker process running it, to tell a dead worker from a slow one.
    worker: Mapped[str] = mapped_column(String(200), default="")
    items_read: Mapped[int] = mapped_column(Integer, default=0)
    estimate: Mapped[int] = mapped_column(Integer, default=0)
    saved: Mapped[int] = mapped_column(Integer, default=0)
    created: Mapped[int] = mapped_column(Integer, default=0)
    skipped: Mapped[int] = mapped_column(Integer, default=0)
    errors: Mapped[int] = mapped_column(Integer, default=0)
    # Screened out / not saved, by reason code.
    counts: Mapped[dict] = mapped_column(JSON, default=dict)
    graph_requests: Mapped[int] = mapped_column(Integer, default=0)
    crm_calls: Mapped[int] = mapped_column(Integer, default=0)
    full_reads: Mapped[int] = mapped_column(Integer, default=0)
    error: Mapped[str] = mapped_column(String(500), default="")


class MeetingSnapshot(Base):
    """What we last wrote for a meeting (per organisation), so an unchanged event read again
    (calendar re-baseline, a colleague's calendar) costs no CRM call."""

    __tablename__ = "meeting_snapshots"
    __table_args__ = (UniqueConstraint("org_id", "item_key", "crm_target"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    org_id: Mapped[int] = mapped_column(ForeignKey("organisations.id", ondelete="CASCADE"))
    item_key: Mapped[str] = mapped_column(String(512))
    crm_target: Mapped[str] = mapped_column(String(128))
    fingerprint: Mapped[str] = mapped_column(String(64))
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow, onupdate=utcnow)


class CalendarEventKey(Base):
    """A user's calendar event id -> the meeting's key (iCalUId) and what we last wrote for it.

    Graph reports a deleted event as `{"id": ..., "@removed": {...}}` with nothing else, and
    event ids differ per mailbox: this is how a removal finds its CRM meeting again.
    """

    __tablename__ = "calendar_event_keys"
    __table_args__ = (
        UniqueConstraint("user_id", "event_id"),
        Index("ix_calendar_event_keys_org_key", "org_id", "item_key"),
        Index("ix_calendar_event_keys_user_master", "user_id", "series_master_id"),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    org_id: Mapped[int] = mapped_column(ForeignKey("organisations.id", ondelete="CASCADE"))
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"))
    event_id: Mapped[str] = mapped_column(String(512))
    item_key: Mapped[str] = mapped_column(String(512))
    # An occurrence's (or exception's) series master in this mailbox: deleting a whole series
    # is reported for the master's id only (server/sync/meetings.py). "" for single meetings.
    series_master_id: Mapped[str] = mapped_column(String(512), default="", server_default="")
    subject: Mapped[str] = mapped_column(String(255), default="")
    start: Mapped[datetime | None] = mapped_column(UTCDateTime)
    end: Mapped[datetime | None] = mapped_column(UTCDateTime)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow, onupdate=utcnow)


class GraphSubscription(Base):
    """A Graph change-notification subscription of one user's mailbox or calendar."""

    __tablename__ = "graph_subscriptions"
    __table_args__ = (UniqueConstraint("user_id", "resource"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    org_id: Mapped[int] = mapped_column(
        ForeignKey("organisations.id", ondelete="CASCADE"), index=True
    )
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"))
    resource: Mapped[str] = mapped_column(String(512))
    subscription_id: Mapped[str] = mapped_column(String(128), unique=True)
    # The secret Graph echoes in every notification (checked in constant time).
    client_state: Mapped[str] = mapped_column(String(128))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    expires_at: Mapped[datetime] = mapped_column(UTCDateTime)
    renew_at: Mapped[datetime] = mapped_column(UTCDateTime)
