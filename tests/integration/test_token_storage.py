"""Secrets at rest: after a real sign-in the database holds no token in plaintext, the MSAL
cache is encrypted (and rewritten only when it changed), and session tokens are hashed."""

from __future__ import annotations

import hashlib
import json
from pathlib import Path

import pytest
from cryptography.fernet import Fernet
from sqlalchemy import select, text

from server.auth.crypto import (
    DecryptionError,
    build_fernet,
    decrypt_text,
    derive_key_from_secret,
    encrypt_text,
    rotate_text,
)
from server.auth.tokens import graph_token_for
from server.config import ConfigError, load_settings
from server.db import Base, get_engine
from server.models.connections import MicrosoftConnection
from server.models.sessions import ApiSession
from server.models.tenancy import User
from server.sandbox.directory import DEMO_USERS
from tests.integration.signin_helpers import sign_in_for_token

BIANCA = DEMO_USERS[1]


@pytest.fixture
def app_config(sandbox):
    return sandbox.settings()


def _raw_database_bytes(app) -> bytes:
    """SQLite: the database file and its WAL, byte for byte. PostgreSQL: every row of every
    table as text (the closest to 'the raw file' a client can read)."""
    url = app.config["DATABASE_URL"]
    if url.startswith("sqlite:///"):
        path = Path(url[len("sqlite:///") :])
        get_engine().dispose()  # nothing held back in a connection
        return b"".join(
            p.read_bytes() for p in (path, Path(f"{path}-wal"), Path(f"{path}-shm")) if p.exists()
        )
    chunks = []
    with get_engine().connect() as conn:
        for table in Base.metadata.sorted_tables:
            for row in conn.execute(text(f'SELECT t::text FROM "{table.name}" t')):
                chunks.append(row[0].encode())
    return b"\n".join(chunks)


def _cache_secrets(db, user: User) -> list[str]:
    connection = db.scalar(
        select(MicrosoftConnection).where(MicrosoftConnection.user_id == user.id)
    )
    cache = json.loads(decrypt_text(connection.token_cache_encrypted))
    found = []
    for section in ("AccessToken", "RefreshToken", "IdToken"):
        found += [entry["secret"] for entry in cache.get(section, {}).values()]
    return found


def test_no_token_in_plaintext_after_sign_in(app, client, sandbox, db):
    session_token = sign_in_for_token(client, sandbox, BIANCA)
    user = db.scalar(select(User).where(User.object_id == BIANCA.object_id))
    graph_token_for(user)
    secrets_in_cache = _cache_secrets(db, user)
    with sandbox.app.app_context():
        refresh_tokens = list(sandbox.app.extensions["sandbox_identity"].refresh_tokens)
    assert refresh_tokens and len(secrets_in_cache) >= 3
    db.close()

    raw = _raw_database_bytes(app)

    assert b"microsoft_connections" in raw or b"gAAAAA" in raw  # we are reading the real data
    for secret in [*secrets_in_cache, *refresh_tokens]:
        assert secret.encode() not in raw
        assert secret[:40].encode() not in raw  # not even a prefix
    for marker in (b'"RefreshToken"', b'"AccessToken"', b'"home_account_id"', b"client_info"):
        assert marker not in raw
    assert session_token.encode() not in raw
    assert hashlib.sha256(session_token.encode()).hexdigest().encode() in raw


def test_session_tokens_are_stored_as_hashes(app, client, sandbox, db):
    token = sign_in_for_token(client, sandbox, BIANCA)
    rows = db.scalars(select(ApiSession)).all()
    assert rows
    assert all(len(r.token_hash) == 64 and r.token_hash != token for r in rows)
    assert hashlib.sha256(token.encode()).hexdigest() in {r.token_hash for r in rows}


def test_cache_is_written_back_only_when_it_changed(app, client, sandbox, db):
    sign_in_for_token(client, sandbox, BIANCA)
    user = db.scalar(select(User).where(User.object_id == BIANCA.object_id))
    graph_token_for(user)  # may refresh once (the sign-in cached the token per authority)

    def stored():
        db.expire_all()
        return db.scalar(
            select(MicrosoftConnection).where(MicrosoftConnection.user_id == user.id)
        ).token_cache_encrypted

    before = stored()
    graph_token_for(user)  # served from cache: nothing changed
    assert stored() == before  # Fernet output differs every time, so equal means not rewritten
    graph_token_for(user, force_refresh=True)
    assert stored() != before


def test_rotation_with_multifernet(app):
    old_key, new_key = Fernet.generate_key().decode(), Fernet.generate_key().decode()
    app.config["ENCRYPTION_KEYS"] = (old_key,)
    stored = encrypt_text("refresh-token-value")

    app.config["ENCRYPTION_KEYS"] = (new_key, old_key)  # new key in front
    assert decrypt_text(stored) == "refresh-token-value"
    rotated = rotate_text(stored)
    assert build_fernet((new_key,)).decrypt(rotated.encode()) == b"refresh-token-value"

    app.config["ENCRYPTION_KEYS"] = (new_key,)  # old key retired
    assert decrypt_text(rotated) == "refresh-token-value"
    with pytest.raises(DecryptionError):
        decrypt_text(stored)


def test_development_key_is_derived_from_the_secret_key(app):
    app.config["ENCRYPTION_KEYS"] = ()
    ciphertext = encrypt_text("x")
    derived = build_fernet((derive_key_from_secret(app.config["SECRET_KEY"]),))
    assert derived.decrypt(ciphertext.encode()) == b"x"
    assert derive_key_from_secret("a") != derive_key_from_secret("b")


def test_production_requires_encryption_keys():
    with pytest.raises(ConfigError, match="ENCRYPTION_KEYS"):
        load_settings(
            environ={},
            overrides={
                "ENV": "production",
                "SANDBOX_ENABLED": False,
                "SECRET_KEY": "9Xq2" + "kT7vLm3Rz8WcYp5N" * 3,
                "REDIS_URL": "redis://127.0.0.1:1/0",
                "DATABASE_URL": "postgresql+psycopg://courier@db:5432/courier",
            },
        )


def test_a_cache_no_configured_key_can_read_means_sign_in_again(app, client, sandbox, db):
    from server.auth.tokens import NeedsReauth

    sign_in_for_token(client, sandbox, BIANCA)
    user = db.scalar(select(User).where(User.object_id == BIANCA.object_id))
    app.config["ENCRYPTION_KEYS"] = (Fernet.generate_key().decode(),)  # old key dropped
    with pytest.raises(NeedsReauth) as raised:
        graph_token_for(user)
    assert raised.value.reason == "cache_unreadable"
    db.expire_all()
    connection = db.scalar(
        select(MicrosoftConnection).where(MicrosoftConnection.user_id == user.id)
    )
    assert connection.needs_reauth and "cache_unreadable" in connection.last_error
