"""Pane sessions that last (issue 12): a session slides while in use (idle timeout), never past
its absolute cap after sign-in, costs no database write per request, and a revoked one is
refused at once — through the API, on SQLite and PostgreSQL."""

from __future__ import annotations

from datetime import timedelta

import pytest
from sqlalchemy import event, select

from server.auth import sessions
from server.auth.sessions import hash_token, revoke_session
from server.models.sessions import ApiSession
from server.sandbox.directory import DEMO_USERS
from tests.integration.signin_helpers import sign_in_for_token

ALEX = DEMO_USERS[0]


@pytest.fixture
def app_config(sandbox):
    return {
        **sandbox.settings(),
        "SESSION_IDLE_HOURS": 14 * 24,
        "SESSION_MAX_DAYS": 90,
        "SESSION_RENEW_MINUTES": 60,
    }


class Clock:
    """The sessions module's notion of now, moved by the test (the server's own clock)."""

    def __init__(self, monkeypatch):
        self.now = sessions.utcnow()
        monkeypatch.setattr(sessions, "utcnow", lambda: self.now)

    def advance(self, **delta) -> None:
        self.now += timedelta(**delta)


@pytest.fixture
def clock(monkeypatch) -> Clock:
    return Clock(monkeypatch)


def bearer(token: str) -> dict:
    return {"Authorization": f"Bearer {token}"}


def _row(db, token: str) -> ApiSession:
    db.expire_all()
    return db.scalar(select(ApiSession).where(ApiSession.token_hash == hash_token(token)))


def _me(client, token: str) -> int:
    return client.get("/api/me", headers=bearer(token)).status_code


def _updates(db) -> list[str]:
    """UPDATE statements on api_sessions issued from now on (a list the listener fills)."""
    seen: list[str] = []

    def listen(conn, cursor, statement, *args):
        if statement.lstrip().upper().startswith("UPDATE API_SESSIONS"):
            seen.append(statement)

    event.listen(db.get_bind(), "before_cursor_execute", listen)
    return seen


def test_an_unused_session_ends_after_the_idle_timeout(client, sandbox, db, clock):
    token = sign_in_for_token(client, sandbox, ALEX)
    created = _row(db, token).created_at
    assert _row(db, token).expires_at == created + timedelta(days=14)
    clock.advance(days=13, hours=23)
    assert _me(client, token) == 200
    clock.advance(days=14, seconds=1)  # not used for more than 14 days since
    assert _me(client, token) == 401


def test_use_slides_the_session_with_one_write_an_hour_at_most(client, sandbox, db, clock):
    token = sign_in_for_token(client, sandbox, ALEX)
    first_expiry = _row(db, token).expires_at
    updates = _updates(db)
    for _ in range(30):  # a busy half hour: no write at all
        clock.advance(minutes=1)
        assert _me(client, token) == 200
    assert updates == []
    assert _row(db, token).expires_at == first_expiry
    clock.advance(minutes=31)  # more than an hour after the last move: one write
    assert _me(client, token) == 200
    assert _me(client, token) == 200
    assert len(updates) == 1
    assert _row(db, token).expires_at == clock.now + timedelta(days=14)
    # Used every working day for weeks, it keeps going well past the first 14 days.
    for _ in range(40):
        clock.advance(days=1)
        assert _me(client, token) == 200


def test_no_session_outlives_the_absolute_cap(client, sandbox, db, clock):
    token = sign_in_for_token(client, sandbox, ALEX)
    created = _row(db, token).created_at
    for _ in range(89):
        clock.advance(days=1)
        assert _me(client, token) == 200
    assert _row(db, token).expires_at == created + timedelta(days=90)
    clock.advance(days=1, seconds=1)  # day 90 passed: sign in again, however used
    assert _me(client, token) == 401


def test_a_revoked_session_is_refused_at_once_and_never_revived(client, sandbox, db, clock):
    token = sign_in_for_token(client, sandbox, ALEX)
    other = sign_in_for_token(client, sandbox, ALEX)
    assert _me(client, token) == 200
    assert revoke_session(token)
    assert _me(client, token) == 401  # no grace period
    clock.advance(hours=2)  # a slide due now must not bring it back
    assert _me(client, token) == 401
    assert _row(db, token).revoked_at is not None
    assert _me(client, other) == 200  # only that session ended


def test_settings_refuse_an_idle_timeout_beyond_the_cap():
    from server.config import ConfigError, load_settings

    with pytest.raises(ConfigError, match="SESSION_IDLE_HOURS"):
        load_settings({"SESSION_IDLE_HOURS": "3000", "SESSION_MAX_DAYS": "90"})


def test_an_authenticated_call_reads_the_session_user_and_organisation_in_one_query(
    client, sandbox, db, clock
):
    # Every pane request pays for this: the session, its user and the user's organisation in
    # one statement; the organisation's domains only when a view reads them.
    token = sign_in_for_token(client, sandbox, ALEX)
    statements: list[str] = []

    def listen(conn, cursor, statement, *args):
        statements.append(statement)

    event.listen(db.get_bind(), "before_cursor_execute", listen)
    try:
        assert client.get("/api/ping", headers=bearer(token)).status_code == 200
    finally:
        event.remove(db.get_bind(), "before_cursor_execute", listen)
    assert len(statements) == 1, statements
    assert "organisations" in statements[0] and "org_domains" not in statements[0]
    assert _me(client, token) == 200  # /api/me still reads the organisation's details
