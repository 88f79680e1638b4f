"""Organisations (keyed by Microsoft tenant id) and their users (tenant id + object id)."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import JSON, Boolean, ForeignKey, Integer, String, UniqueConstraint, false
from sqlalchemy.orm import Mapped, mapped_column, relationship

from ..db import Base, UTCDateTime, utcnow

ROLES = ("user", "admin")


class Organisation(Base):
    __tablename__ = "organisations"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    tenant_id: Mapped[str] = mapped_column(String(64), unique=True)
    name: Mapped[str] = mapped_column(String(200), default="")
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    # "Only allowed users may use Courier": when on, users not on OrgAllowedUser (and not
    # admins) are refused at sign-in and by the API, and their sync stops.
    restrict_to_allowed: Mapped[bool] = mapped_column(
        Boolean, default=False, server_default=false()
    )
    # When the directory's user list was last read from Graph (admin console, Users).
    directory_refreshed_at: Mapped[datetime | None] = mapped_column(UTCDateTime, nullable=True)
    # "delegated" (each user's own sign-in feeds their sync) or "application" (the worker
    # reads the in-scope users' mailboxes with an app-only token; server/auth/app_tokens.py).
    sync_mode: Mapped[str] = mapped_column(
        String(16), default="delegated", server_default="delegated"
    )
    # When an admin last granted tenant-wide consent to the application permissions.
    app_consent_at: Mapped[datetime | None] = mapped_column(UTCDateTime, nullable=True)
    # Why the last app-only token request failed ("" = it worked): consent missing or
    # revoked, credential refused... Never a token. Set and cleared by app_tokens.py.
    app_grant_error: Mapped[str] = mapped_column(String(500), default="", server_default="")
    # When an app-only token was last requested (successfully or not).
    app_grant_checked_at: Mapped[datetime | None] = mapped_column(UTCDateTime, nullable=True)

    domains: Mapped[list[OrgDomain]] = relationship(
        back_populates="organisation", cascade="all, delete-orphan", lazy="selectin"
    )

    @property
    def domain_names(self) -> list[str]:
        return sorted(d.domain for d in self.domains)


class OrgDomain(Base):
    __tablename__ = "org_domains"
    __table_args__ = (UniqueConstraint("org_id", "domain"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    org_id: Mapped[int] = mapped_column(
        ForeignKey("organisations.id", ondelete="CASCADE"), index=True
    )
    domain: Mapped[str] = mapped_column(String(253))

    organisation: Mapped[Organisation] = relationship(back_populates="domains")


class User(Base):
    __tablename__ = "users"
    __table_args__ = (UniqueConstraint("tenant_id", "object_id"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    org_id: Mapped[int] = mapped_column(
        ForeignKey("organisations.id", ondelete="CASCADE"), index=True
    )
    tenant_id: Mapped[str] = mapped_column(String(64))
    object_id: Mapped[str] = mapped_column(String(64))
    email: Mapped[str] = mapped_column(String(320), default="")
    display_name: Mapped[str] = mapped_column(String(200), default="")
    # Lower-cased addresses the user also receives mail at (proxyAddresses).
    aliases: Mapped[list[str]] = mapped_column(JSON, default=list)
    # "admin" when either source below says so (kept in step by server/auth/roles.py).
    role: Mapped[str] = mapped_column(String(16), default="user")
    # Where the admin role comes from: a directory role in `wids` at the last sign-in, and/or
    # an explicit grant (console or `flask admin grant`). Losing the directory role removes
    # the role only when no grant holds it too.
    admin_by_directory: Mapped[bool] = mapped_column(Boolean, default=False, server_default=false())
    admin_by_grant: Mapped[bool] = mapped_column(Boolean, default=False, server_default=false())
    sync_enabled: Mapped[bool] = mapped_column(Boolean, default=True)
    # Application mode's scope (server/sync/app_mode.py): None = never chosen, "in" = the
    # admin's chosen users or group include them (synced without their sign-in), "removed" =
    # they left the scope (no longer read; what was saved stays).
    app_scope: Mapped[str | None] = mapped_column(String(16), nullable=True)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)

    organisation: Mapped[Organisation] = relationship(lazy="joined")

    @property
    def is_admin(self) -> bool:
        return self.role == "admin"

    @property
    def own_addresses(self) -> set[str]:
        return {a.lower() for a in [self.email, *(self.aliases or [])] if a}
