"""`flask rotate-keys`: re-encrypt every stored secret with the newest ENCRYPTION_KEYS key.

Rotation (README, "Operations"): put a new key in front of ENCRYPTION_KEYS and restart, run
this, then drop the old key. The encrypted columns are listed here as data; a new encrypted
column is one more line.
"""

from __future__ import annotations

import hashlib
from datetime import datetime

import click
from flask import current_app
from flask.cli import with_appcontext
from sqlalchemy import select

from ..db import get_session, utcnow
from ..models.connections import MicrosoftConnection
from ..models.crm_connections import SalesforceConnection
from ..models.keys import EncryptionKeyRecord
from .crypto import rotate_text

ENCRYPTED_COLUMNS: tuple[tuple[type, str], ...] = (
    (MicrosoftConnection, "token_cache_encrypted"),
    (SalesforceConnection, "access_token_encrypted"),
    (SalesforceConnection, "refresh_token_encrypted"),
)
BATCH_ROWS = 500


def rotate_all() -> dict[str, int]:
    """Re-encrypt each non-empty value; returns how many values per table.column. Raises
    DecryptionError (nothing of that batch written) when a value fits none of the keys."""
    session = get_session()
    counts: dict[str, int] = {}
    for model, column in ENCRYPTED_COLUMNS:
        attr = getattr(model, column)
        pk = model.__mapper__.primary_key[0]
        done, last_id = 0, None
        while True:
            query = select(model).where(attr != "").order_by(pk).limit(BATCH_ROWS)
            if last_id is not None:
                query = query.where(pk > last_id)
            rows = session.scalars(query).all()
            if not rows:
                break
            for row in rows:
                setattr(row, column, rotate_text(getattr(row, column)))
            session.commit()
            done += len(rows)
            last_id = getattr(rows[-1], pk.key)
        counts[f"{model.__tablename__}.{column}"] = done
    return counts


def fingerprint(key: str) -> str:
    return hashlib.sha256(key.encode()).hexdigest()


def note_keys_in_use(now: datetime | None = None) -> dict[str, datetime]:
    """Record when each configured key was first seen in use (the scheduler's tick, every
    minute, and `flask rotate-keys`); returns {fingerprint: first used}, newest key first.
    Empty when ENCRYPTION_KEYS is not set (development's derived key)."""
    keys = tuple(current_app.config.get("ENCRYPTION_KEYS") or ())
    if not keys:
        return {}
    db = get_session()
    prints = [fingerprint(k) for k in keys]
    known = dict(
        db.execute(
            select(EncryptionKeyRecord.fingerprint, EncryptionKeyRecord.first_used_at).where(
                EncryptionKeyRecord.fingerprint.in_(prints)
            )
        ).all()
    )
    missing = [p for p in prints if p not in known]
    if missing:
        now = now or utcnow()
        for p in missing:
            db.merge(EncryptionKeyRecord(fingerprint=p, first_used_at=now))
            known[p] = now
        db.commit()
    return {p: known[p] for p in prints}


def newest_key_age(now: datetime | None = None):
    """How long the key that encrypts (the first of ENCRYPTION_KEYS) has been in use."""
    ages = note_keys_in_use()
    if not ages:
        return None
    return (now or utcnow()) - next(iter(ages.values()))


@click.command("rotate-keys", help="Re-encrypt stored secrets with the newest ENCRYPTION_KEYS key.")
@with_appcontext
def rotate_keys_command() -> None:
    note_keys_in_use()
    for name, count in rotate_all().items():
        click.echo(f"{name}: {count} values re-encrypted")
