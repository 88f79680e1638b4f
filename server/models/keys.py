"""When each encryption key came into use, by fingerprint (never the key), so the console
can say when a rotation is due (server/auth/key_rotation.note_keys_in_use)."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import String
from sqlalchemy.orm import Mapped, mapped_column

from ..db import Base, UTCDateTime, utcnow


class EncryptionKeyRecord(Base):
    __tablename__ = "encryption_keys"

    # sha256 of the key, hex: names a key without revealing it.
    fingerprint: Mapped[str] = mapped_column(String(64), primary_key=True)
    first_used_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
