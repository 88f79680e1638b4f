"""The idempotency ledger and thread auto-save rules.

One ledger row per (organisation, item key, CRM target): whoever saves an email or meeting
first — the pane, a thread rule, auto-save or the calendar sync — claims the row (pending,
committed) before it writes to the CRM, through server/activity_writer.py, so nothing is ever
saved twice to one CRM.
"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import JSON, Boolean, ForeignKey, Index, Integer, String, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from ..db import Base, UTCDateTime, utcnow

# "removed": the user removed the email from the CRM; nothing saves it again but their own
# explicit save (server/pane/removal.py).
LEDGER_STATUSES = ("pending", "saved", "failed", "removed")
LEDGER_SOURCES = ("manual", "thread", "auto", "meeting")


class LedgerEntry(Base):
    __tablename__ = "ledger"
    __table_args__ = (
        UniqueConstraint("org_id", "item_key", "crm_target"),
        # Saved in the last 7 days: per organisation (Overview), per user (users table).
        Index("ix_ledger_org_status_updated", "org_id", "status", "updated_at"),
        Index("ix_ledger_user_status_updated", "user_id", "status", "updated_at"),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    org_id: Mapped[int] = mapped_column(
        ForeignKey("organisations.id", ondelete="CASCADE"), index=True
    )
    # internetMessageId (or its fingerprint) for email, iCalUId for meetings: see rules/keys.py.
    item_key: Mapped[str] = mapped_column(String(512))
    kind: Mapped[str] = mapped_column(String(16))  # email | meeting
    # Which CRM the item went to: "builtin", or "salesforce:<org id>".
    crm_target: Mapped[str] = mapped_column(String(128))
    user_id: Mapped[int | None] = mapped_column(ForeignKey("users.id", ondelete="SET NULL"))
    status: Mapped[str] = mapped_column(String(16), default="pending")
    source: Mapped[str] = mapped_column(String(16), default="manual")
    activity_id: Mapped[str | None] = mapped_column(String(64))
    conversation_id: Mapped[str] = mapped_column(String(512), default="", index=True)
    subject: Mapped[str] = mapped_column(String(255), default="")
    # Lower-cased addresses of every participant, for rule previews and "why".
    participants: Mapped[list[str]] = mapped_column(JSON, default=list)
    # [{"type": ..., "id": ..., "role": ...}] as saved to the CRM.
    links: Mapped[list[dict]] = mapped_column(JSON, default=list)
    last_error: Mapped[str] = mapped_column(String(500), default="")
    # A save waiting for the CRM keeps what it will write here (not only in Redis), so a
    # flushed queue or a lost job cannot lose it: the tick re-queues pending rows.
    pending_draft: Mapped[dict | None] = mapped_column(JSON(none_as_null=True), nullable=True)
    # Who is writing a pending row ("sync:<session id>", "pane:…", "save-job:…") and until when
    # they count as alive: their lease is renewed while they write (activity_writer.Writer) and
    # released when they stop, so the tick re-drives a row only once its writer is really gone.
    writer: Mapped[str] = mapped_column(String(80), default="", server_default="")
    lease_until: Mapped[datetime | None] = mapped_column(UTCDateTime, nullable=True)
    item_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow, onupdate=utcnow)


class ThreadRule(Base):
    """'Auto-save this thread': the conversation's emails, those already in the mailbox and
    every later one, go to the same records."""

    __tablename__ = "thread_rules"
    __table_args__ = (UniqueConstraint("user_id", "conversation_id"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    org_id: Mapped[int] = mapped_column(
        ForeignKey("organisations.id", ondelete="CASCADE"), index=True
    )
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"), index=True)
    conversation_id: Mapped[str] = mapped_column(String(512))
    links: Mapped[list[dict]] = mapped_column(JSON, default=list)
    enabled: Mapped[bool] = mapped_column(Boolean, default=True)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow, onupdate=utcnow)
    # When the conversation's emails already in the mailbox were read and saved (by the sync
    # session, server/sync/threads.py); None while that is still to do.
    backfilled_at: Mapped[datetime | None] = mapped_column(UTCDateTime, nullable=True)
