"""App-only credentials against the sandbox's token endpoint over HTTPS: a certificate (the
preferred credential: PS256 with x5t#S256, or the legacy RS256 with a SHA-1 x5t) and a client
secret both get tokens; a certificate the app does not know, or a wrong secret, is refused
with a clear state. No app-only token, key or secret is stored in clear or logged."""

from __future__ import annotations

import logging
from pathlib import Path

import jwt
import pytest
from sqlalchemy import inspect, select, text

from server.auth.app_tokens import AppGrantMissing, app_grant_status, app_graph_token
from server.models.connections import AppTokenCache
from server.models.tenancy import Organisation, User
from server.queues import get_redis
from server.sandbox.directory import DEMO_USERS
from server.sync.jobs import enqueue_session
from tests.integration.app_mode_helpers import app_mode_users, make_certificate
from tests.integration.sync_helpers import FAST_RETRIES, configure_mailboxes

ALEX = DEMO_USERS[0]


@pytest.fixture
def app_config(sandbox):
    return {**sandbox.settings(), **FAST_RETRIES}


@pytest.fixture
def org(app, sandbox, db):
    (alex,) = app_mode_users(db, sandbox, [ALEX])
    return db.get(Organisation, alex.org_id)


def _use_certificate(app, cert, thumbprint_only: bool = False) -> None:
    app.config["MS_APP_CERT_KEY_PATH"] = cert.key_path
    if thumbprint_only:
        app.config["MS_APP_CERT_THUMBPRINT"] = cert.sha1_hex
    else:
        app.config["MS_APP_CERT_PATH"] = cert.cert_path


def _counts(sandbox) -> dict:
    return sandbox.control("/_sandbox/identity/app-state", method="GET")["counts"]


def test_a_registered_certificate_gets_a_token_with_the_granted_roles(app, sandbox, org, tmp_path):
    cert = make_certificate(tmp_path)
    sandbox.control("/_sandbox/identity/app-certificates", {"certificate_pem": cert.pem})
    _use_certificate(app, cert)
    token = app_graph_token(org)
    claims = jwt.decode(token, options={"verify_signature": False})
    assert claims["idtyp"] == "app" and claims["tid"] == ALEX.tenant_id
    assert {"Mail.Read", "Calendars.Read", "User.Read.All"} <= set(claims["roles"])
    assert "scp" not in claims
    assert _counts(sandbox) == {"granted": 1}
    assert app_grant_status(org, check=True)["state"] == "granted"
    assert _counts(sandbox) == {"granted": 1}  # the cached token answered the check


def test_the_legacy_sha1_thumbprint_works_too(app, sandbox, org, tmp_path):
    cert = make_certificate(tmp_path)
    sandbox.control("/_sandbox/identity/app-certificates", {"certificate_pem": cert.pem})
    _use_certificate(app, cert, thumbprint_only=True)
    assert app_graph_token(org)
    assert _counts(sandbox) == {"granted": 1}


def test_an_unregistered_certificate_is_refused_with_a_clear_state(app, sandbox, org, tmp_path):
    registered = make_certificate(tmp_path, "registered")
    sandbox.control("/_sandbox/identity/app-certificates", {"certificate_pem": registered.pem})
    _use_certificate(app, make_certificate(tmp_path, "another"))
    with pytest.raises(AppGrantMissing) as caught:
        app_graph_token(org)
    assert caught.value.reason == "credential_rejected"
    assert "AADSTS700027" in caught.value.description
    status = app_grant_status(org)
    assert status["state"] == "missing" and status["reason"] == "credential_rejected"
    assert _counts(sandbox) == {"bad_assertion": 1}


def test_a_missing_key_file_is_not_configured(app, sandbox, org, tmp_path):
    app.config["MS_APP_CERT_KEY_PATH"] = str(tmp_path / "absent.key")
    app.config["MS_APP_CERT_PATH"] = str(tmp_path / "absent.crt")
    with pytest.raises(AppGrantMissing) as caught:
        app_graph_token(org)
    assert caught.value.reason == "not_configured"
    assert _counts(sandbox) == {}


def test_the_secret_works_and_a_wrong_one_is_refused(app, sandbox, org, db):
    assert app_graph_token(org)
    app.config["MS_APP_CLIENT_SECRET"] = "not-the-secret"
    db.execute(text("DELETE FROM app_token_caches"))  # no cached token to fall back on
    db.commit()
    with pytest.raises(AppGrantMissing) as caught:
        app_graph_token(org)
    assert caught.value.reason == "credential_rejected"
    assert "AADSTS7000215" in caught.value.description
    assert _counts(sandbox) == {"granted": 1, "bad_secret": 1}


def _every_stored_value(db) -> str:
    """Every column of every row of every table, as text (what a database dump shows)."""
    chunks = []
    for table in inspect(db.get_bind()).get_table_names():
        for row in db.execute(text(f'SELECT * FROM "{table}"')):  # noqa: S608 (our own table names)
            chunks.append(" ".join(str(v) for v in row))
    return "\n".join(chunks)


def _every_redis_value() -> str:
    redis = get_redis()
    chunks = []
    for key in redis.scan_iter(count=500):
        kind = redis.type(key).decode()
        chunks.append(key.decode(errors="replace"))
        if kind == "string":
            chunks.append(redis.get(key).decode(errors="replace"))
        elif kind == "hash":
            chunks += [f"{k!r}{v!r}" for k, v in redis.hgetall(key).items()]
        elif kind == "list":
            chunks += [repr(v) for v in redis.lrange(key, 0, -1)]
        elif kind in ("set",):
            chunks += [repr(v) for v in redis.smembers(key)]
        elif kind == "zset":
            chunks += [repr(v) for v in redis.zrange(key, 0, -1)]
    return "\n".join(chunks)


def test_no_app_token_key_or_secret_is_stored_in_clear_or_logged(
    app, sandbox, org, db, run_jobs, tmp_path, caplog
):
    caplog.set_level(logging.DEBUG)
    configure_mailboxes(sandbox, messages=20, events=2)
    cert = make_certificate(tmp_path)
    sandbox.control("/_sandbox/identity/app-certificates", {"certificate_pem": cert.pem})
    _use_certificate(app, cert)
    user_id = db.scalar(select(User.id).where(User.org_id == org.id, User.app_scope == "in"))
    enqueue_session(user_id)
    run_jobs()
    token = app_graph_token(org)
    row = db.get(AppTokenCache, org.id)
    assert row is not None and row.token_cache_encrypted.startswith("gAAAA")  # Fernet
    key_body = "".join(Path(cert.key_path).read_text().splitlines()[1:-1])
    secrets = {
        "access token": token,
        "token signature": token.rsplit(".", 1)[1],
        "private key": key_body[20:80],
        "client secret": app.config["MS_CLIENT_SECRET"],
    }
    stored, cached, logged = _every_stored_value(db), _every_redis_value(), caplog.text
    # The capture saw the token requests and the session's Graph calls.
    assert "oauth2/v2.0/token" in logged and "messages/delta" in logged
    for name, value in secrets.items():
        assert value not in stored, f"{name} stored in clear in the database"
        assert value not in cached, f"{name} stored in clear in Redis"
        assert value not in logged, f"{name} logged"
