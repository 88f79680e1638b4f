"""`flask rotate-keys`: after a new key is put in front of ENCRYPTION_KEYS and the command
ran, the old key can be dropped and every stored secret still decrypts."""

from __future__ import annotations

import pytest
from cryptography.fernet import Fernet
from sqlalchemy import select

from server.auth.crypto import DecryptionError, decrypt_text, encrypt_text
from server.db import get_session
from server.models.connections import MicrosoftConnection
from server.models.crm_connections import SalesforceConnection
from server.models.tenancy import Organisation, User
from tests.conftest import make_test_app

OLD, NEW = Fernet.generate_key().decode(), Fernet.generate_key().decode()


def _app(database_url, redis_url, *keys):
    return make_test_app(database_url, redis_url, ENCRYPTION_KEYS=tuple(keys))


def test_rotation_lets_the_old_key_go(database_url, redis_url, redis_client):
    app = _app(database_url, redis_url, OLD)
    with app.app_context():
        db = get_session()
        org = Organisation(tenant_id="t-rotate")
        db.add(org)
        db.flush()
        users = [User(org_id=org.id, tenant_id="t-rotate", object_id=f"o{n}") for n in range(3)]
        db.add_all(users)
        db.flush()
        for n, user in enumerate(users):
            db.add(
                MicrosoftConnection(
                    org_id=org.id, user_id=user.id, token_cache_encrypted=encrypt_text(f"cache{n}")
                )
            )
        db.add(
            SalesforceConnection(
                org_id=org.id,
                user_id=users[0].id,
                sf_org_id="00D000000000001",
                sf_user_id="005000000000001",
                instance_url="https://example.my.salesforce.com",
                access_token_encrypted=encrypt_text("access"),
                refresh_token_encrypted="",  # empty values are left alone
            )
        )
        db.commit()
        db.close()
    app.extensions["db_engine"].dispose()

    rotating = _app(database_url, redis_url, NEW, OLD)
    result = rotating.test_cli_runner().invoke(args=["rotate-keys"])
    assert result.exit_code == 0, result.output
    assert "microsoft_connections.token_cache_encrypted: 3 values re-encrypted" in result.output
    assert "salesforce_connections.access_token_encrypted: 1 values re-encrypted" in result.output
    assert "salesforce_connections.refresh_token_encrypted: 0 values re-encrypted" in result.output
    rotating.extensions["db_engine"].dispose()

    new_only = _app(database_url, redis_url, NEW)
    with new_only.app_context():
        db = get_session()
        caches = [
            decrypt_text(c.token_cache_encrypted)
            for c in db.scalars(select(MicrosoftConnection).order_by(MicrosoftConnection.id))
        ]
        assert caches == ["cache0", "cache1", "cache2"]
        sf = db.scalars(select(SalesforceConnection)).one()
        assert decrypt_text(sf.access_token_encrypted) == "access"
        assert sf.refresh_token_encrypted == ""
        db.close()
    new_only.extensions["db_engine"].dispose()

    old_only = _app(database_url, redis_url, OLD)
    with old_only.app_context():
        conn = get_session().scalars(select(MicrosoftConnection)).first()
        with pytest.raises(DecryptionError):
            decrypt_text(conn.token_cache_encrypted)
        get_session().close()
    old_only.extensions["db_engine"].dispose()
