"""A user's connection to Microsoft (the encrypted MSAL token cache) and the org-wide sign-in
allow-list."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import Boolean, ForeignKey, Integer, String, Text, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from ..db import Base, UTCDateTime, utcnow


class MicrosoftConnection(Base):
    """One MSAL SerializableTokenCache per user, Fernet-encrypted (server/auth/crypto.py).

    Written back only when MSAL reports the cache changed. `needs_reauth` is set when a silent
    token request fails with invalid_grant / interaction_required: sync stops for this user
    and the health view asks them to sign in again.
    """

    __tablename__ = "microsoft_connections"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    org_id: Mapped[int] = mapped_column(
        ForeignKey("organisations.id", ondelete="CASCADE"), index=True
    )
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"), unique=True)
    token_cache_encrypted: Mapped[str] = mapped_column(Text, default="")
    # MSAL's home account id ("<oid>.<tid>"), to pick the account out of the cache.
    home_account_id: Mapped[str] = mapped_column(String(200), default="")
    scopes: Mapped[str] = mapped_column(String(500), default="")
    connected_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    needs_reauth: Mapped[bool] = mapped_column(Boolean, default=False)
    needs_reauth_since: Mapped[datetime | None] = mapped_column(UTCDateTime, nullable=True)
    # Provider error code and description of the last failure (never a token).
    last_error: Mapped[str] = mapped_column(String(500), default="")


class OrgAllowedUser(Base):
    """The org-wide "restrict to these users" list, by Entra object id.

    While an organisation has any row here, only the listed users (and admins) may sign in.
    """

    __tablename__ = "org_allowed_users"
    __table_args__ = (UniqueConstraint("org_id", "object_id"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    org_id: Mapped[int] = mapped_column(
        ForeignKey("organisations.id", ondelete="CASCADE"), index=True
    )
    object_id: Mapped[str] = mapped_column(String(64))
    # What the admin saw when choosing (display name or address); informational only.
    label: Mapped[str] = mapped_column(String(320), default="")
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)


class AppTokenCache(Base):
    """The organisation's app-only MSAL token cache (client credentials), Fernet-encrypted
    like the users' caches. One row per organisation (= tenant); server/auth/app_tokens.py."""

    __tablename__ = "app_token_caches"

    org_id: Mapped[int] = mapped_column(
        ForeignKey("organisations.id", ondelete="CASCADE"), primary_key=True
    )
    token_cache_encrypted: Mapped[str] = mapped_column(Text, default="")
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
