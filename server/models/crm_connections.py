"""Connections to external CRMs: a user's Salesforce grant, and an org's Salesforce budget.

Tokens are Fernet-encrypted (server/auth/crypto.py) and never leave the server. A connection
whose grant was revoked or expired is kept with `needs_reauth` so health can say so.
"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import Boolean, ForeignKey, Integer, String, Text, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from ..db import Base, UTCDateTime, utcnow


class SalesforceConnection(Base):
    __tablename__ = "salesforce_connections"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    org_id: Mapped[int] = mapped_column(
        ForeignKey("organisations.id", ondelete="CASCADE"), index=True
    )
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"), unique=True)
    # The Salesforce org (00D...) and user (005...) the grant belongs to.
    sf_org_id: Mapped[str] = mapped_column(String(18), index=True)
    sf_user_id: Mapped[str] = mapped_column(String(18))
    sf_username: Mapped[str] = mapped_column(String(320), default="")
    instance_url: Mapped[str] = mapped_column(String(500))
    access_token_encrypted: Mapped[str] = mapped_column(Text, default="")
    refresh_token_encrypted: Mapped[str] = mapped_column(Text, default="")
    needs_reauth: Mapped[bool] = mapped_column(Boolean, default=False)
    needs_reauth_since: Mapped[datetime | None] = mapped_column(UTCDateTime, nullable=True)
    # Provider error code of the last failure (never a token).
    last_error: Mapped[str] = mapped_column(String(500), default="")
    connected_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    refreshed_at: Mapped[datetime | None] = mapped_column(UTCDateTime, nullable=True)


class SalesforceOrgState(Base):
    """Per (Courier organisation, Salesforce org): how writes are made and the API budget.

    `api_used`/`api_limit` come from the Sforce-Limit-Info header of the latest response;
    `paused_until` is set when usage passes the threshold or Salesforce answers
    REQUEST_LIMIT_EXCEEDED, and writes wait until then.
    """

    __tablename__ = "salesforce_org_states"
    __table_args__ = (UniqueConstraint("org_id", "sf_org_id"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    org_id: Mapped[int] = mapped_column(
        ForeignKey("organisations.id", ondelete="CASCADE"), index=True
    )
    sf_org_id: Mapped[str] = mapped_column(String(18))
    # "enhanced" (EmailMessage) or "task"; empty means the SALESFORCE_EMAIL_MODE setting.
    email_mode: Mapped[str] = mapped_column(String(16), default="")
    api_used: Mapped[int | None] = mapped_column(Integer, nullable=True)
    api_limit: Mapped[int | None] = mapped_column(Integer, nullable=True)
    usage_seen_at: Mapped[datetime | None] = mapped_column(UTCDateTime, nullable=True)
    paused_until: Mapped[datetime | None] = mapped_column(UTCDateTime, nullable=True)
    pause_reason: Mapped[str] = mapped_column(String(200), default="")
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow, onupdate=utcnow)
