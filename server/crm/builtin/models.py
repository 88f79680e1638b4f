"""Tables of the built-in CRM. Every row carries its organisation and every query scopes by it.

Addresses and domains are stored lower-cased so lookups compare plain columns (and use the
(org_id, email) indexes) instead of lower() over the column.
"""

from __future__ import annotations

from datetime import date, datetime

from sqlalchemy import (
    JSON,
    Boolean,
    Date,
    Float,
    ForeignKey,
    Index,
    Integer,
    String,
    Text,
    UniqueConstraint,
)
from sqlalchemy.orm import Mapped, mapped_column

from ...db import Base, UTCDateTime, utcnow

ORG_FK = "organisations.id"


def _org_id() -> Mapped[int]:
    return mapped_column(ForeignKey(ORG_FK, ondelete="CASCADE"))


class CrmAccount(Base):
    __tablename__ = "crm_accounts"
    __table_args__ = (
        Index("ix_crm_accounts_org_name", "org_id", "name"),
        Index("ix_crm_accounts_org_last_activity", "org_id", "last_activity_at"),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    org_id: Mapped[int] = _org_id()
    name: Mapped[str] = mapped_column(String(255))
    owner_id: Mapped[str | None] = mapped_column(String(64))
    last_activity_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)


class CrmAccountDomain(Base):
    __tablename__ = "crm_account_domains"
    __table_args__ = (UniqueConstraint("org_id", "domain"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    org_id: Mapped[int] = _org_id()
    account_id: Mapped[int] = mapped_column(
        ForeignKey("crm_accounts.id", ondelete="CASCADE"), index=True
    )
    domain: Mapped[str] = mapped_column(String(253))  # lower-cased


class CrmContact(Base):
    __tablename__ = "crm_contacts"
    __table_args__ = (
        Index("ix_crm_contacts_org_name", "org_id", "name"),
        Index("ix_crm_contacts_org_last_activity", "org_id", "last_activity_at"),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    org_id: Mapped[int] = _org_id()
    name: Mapped[str] = mapped_column(String(255))
    title: Mapped[str] = mapped_column(String(255), default="")
    account_id: Mapped[int | None] = mapped_column(
        ForeignKey("crm_accounts.id", ondelete="SET NULL"), index=True
    )
    owner_id: Mapped[str | None] = mapped_column(String(64))
    last_activity_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)


class CrmContactEmail(Base):
    __tablename__ = "crm_contact_emails"
    __table_args__ = (
        UniqueConstraint("contact_id", "email"),
        # The lookup index: find_people filters on (org_id, email IN ...).
        # contact_id included so a lookup that misses, or finds, never reads the table itself.
        Index("ix_crm_contact_emails_org_email", "org_id", "email", "contact_id"),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    org_id: Mapped[int] = _org_id()
    contact_id: Mapped[int] = mapped_column(ForeignKey("crm_contacts.id", ondelete="CASCADE"))
    email: Mapped[str] = mapped_column(String(320))  # lower-cased


class CrmLead(Base):
    __tablename__ = "crm_leads"
    __table_args__ = (
        Index("ix_crm_leads_org_email", "org_id", "email"),
        Index("ix_crm_leads_org_name", "org_id", "name"),
        Index("ix_crm_leads_org_last_activity", "org_id", "last_activity_at"),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    org_id: Mapped[int] = _org_id()
    name: Mapped[str] = mapped_column(String(255))
    email: Mapped[str] = mapped_column(String(320))  # lower-cased
    company: Mapped[str] = mapped_column(String(255), default="")
    status: Mapped[str] = mapped_column(String(40), default="Open")
    owner_id: Mapped[str | None] = mapped_column(String(64))
    converted: Mapped[bool] = mapped_column(Boolean, default=False)
    last_activity_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)


class CrmOpportunity(Base):
    __tablename__ = "crm_opportunities"
    __table_args__ = (
        Index("ix_crm_opportunities_org_account", "org_id", "account_id"),
        Index("ix_crm_opportunities_org_name", "org_id", "name"),
        Index("ix_crm_opportunities_org_last_activity", "org_id", "last_activity_at"),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    org_id: Mapped[int] = _org_id()
    name: Mapped[str] = mapped_column(String(255))
    account_id: Mapped[int] = mapped_column(ForeignKey("crm_accounts.id", ondelete="CASCADE"))
    owner_id: Mapped[str | None] = mapped_column(String(64))
    stage: Mapped[str] = mapped_column(String(60))
    is_closed: Mapped[bool] = mapped_column(Boolean, default=False)
    amount: Mapped[float | None] = mapped_column(Float)
    close_date: Mapped[date | None] = mapped_column(Date)
    last_activity_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)


class CrmActivity(Base):
    """An email or a meeting, written once per key (internetMessageId / iCalUId)."""

    __tablename__ = "crm_activities"
    __table_args__ = (
        UniqueConstraint("org_id", "key"),
        # Every occurrence of one recurring series.
        Index("ix_crm_activities_org_series", "org_id", "series_key"),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    org_id: Mapped[int] = _org_id()
    kind: Mapped[str] = mapped_column(String(16))  # email | meeting
    key: Mapped[str] = mapped_column(String(512))
    subject: Mapped[str] = mapped_column(String(255), default="")
    body_text: Mapped[str] = mapped_column(Text, default="")
    start: Mapped[datetime] = mapped_column(UTCDateTime)
    end: Mapped[datetime | None] = mapped_column(UTCDateTime)
    direction: Mapped[str] = mapped_column(String(16), default="inbound")
    conversation_id: Mapped[str] = mapped_column(String(512), default="")
    # [{"address", "name", "role"}] as given by the mailbox.
    participants: Mapped[list[dict]] = mapped_column(JSON, default=list)
    cancelled: Mapped[bool] = mapped_column(Boolean, default=False)
    owner_id: Mapped[str | None] = mapped_column(String(64))
    # A meeting that is one occurrence of a recurring series: the series' key, shared by all
    # of its occurrences ("" for emails and single meetings).
    series_key: Mapped[str] = mapped_column(String(512), default="", server_default="")
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow, onupdate=utcnow)


class CrmActivityLink(Base):
    __tablename__ = "crm_activity_links"
    __table_args__ = (
        UniqueConstraint("activity_id", "record_type", "record_id", "role"),
        # The timeline of a record page.
        Index("ix_crm_activity_links_record", "org_id", "record_type", "record_id"),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    org_id: Mapped[int] = _org_id()
    activity_id: Mapped[int] = mapped_column(ForeignKey("crm_activities.id", ondelete="CASCADE"))
    record_type: Mapped[str] = mapped_column(String(16))  # contact | lead | account | opportunity
    record_id: Mapped[int] = mapped_column(Integer)
    role: Mapped[str] = mapped_column(String(16), default="related")
