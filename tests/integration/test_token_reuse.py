"""A worker syncs every mailbox in turn: the Graph token it took from a user's stored cache
is handed out again, without the refresh lock, the decryption or MSAL, while that very cache
is still what is stored and the token has more than five minutes left. Anything that changes
the stored cache (a refresh by another worker, a re-authentication flag, a dropped key) sends
the next caller through the one locked path."""

from __future__ import annotations

import time

import msal
import pytest
from cryptography.fernet import Fernet
from sqlalchemy import select, update

from server.auth.tokens import (
    FRESH_FOR_SECONDS,
    NeedsReauth,
    TokenUnavailable,
    graph_token_for,
    usable_access_token,
)
from server.locks import lock_key
from server.models.connections import MicrosoftConnection
from server.models.tenancy import User
from server.queues import get_redis
from server.sandbox.directory import DEMO_USERS
from tests.conftest import make_test_app

from .signin_helpers import sign_in_for_token

BIANCA = DEMO_USERS[1]


@pytest.fixture
def app_config(sandbox):
    return sandbox.settings()


def _signed_in(client, sandbox, db) -> User:
    sign_in_for_token(client, sandbox, BIANCA)
    return db.scalar(select(User).where(User.object_id == BIANCA.object_id))


def _refresh_lock_held_elsewhere(user: User):
    """Another process holds the user's refresh lock (for longer than this test waits)."""
    lock = get_redis().lock(lock_key(f"microsoft-token:{user.id}"), timeout=120)
    assert lock.acquire(blocking=False)
    return lock


@pytest.fixture
def short_lock_wait(monkeypatch):
    """A caller that goes for the refresh lock gives up after a second instead of a minute
    (TokenUnavailable): the tests see who went for it without waiting."""
    import server.auth.tokens as tokens

    original = tokens.held
    monkeypatch.setattr(
        tokens, "held", lambda name, timeout=60, wait=60: original(name, timeout, wait=1)
    )


def test_a_token_taken_from_the_stored_cache_is_reused_without_the_lock(
    app, client, sandbox, db, short_lock_wait
):
    user = _signed_in(client, sandbox, db)
    first = graph_token_for(user)
    lock = _refresh_lock_held_elsewhere(user)
    try:
        assert graph_token_for(user) == first  # the locked path would give up: TokenUnavailable
    finally:
        lock.release()


def test_a_refresh_by_another_worker_is_seen_by_the_next_caller(
    app, client, sandbox, db, database_url, redis_url, app_config
):
    user = _signed_in(client, sandbox, db)
    mine = graph_token_for(user)
    other = make_test_app(database_url, redis_url, **app_config)  # another worker process
    with other.app_context():
        theirs = graph_token_for(user, force_refresh=True, refused=mine)
    other.extensions["db_engine"].dispose()
    assert theirs != mine
    assert graph_token_for(user) == theirs  # not the token this process remembered


def test_a_connection_flagged_for_sign_in_is_not_served_from_memory(app, client, sandbox, db):
    user = _signed_in(client, sandbox, db)
    graph_token_for(user)
    db.execute(
        update(MicrosoftConnection)
        .where(MicrosoftConnection.user_id == user.id)
        .values(needs_reauth=True, last_error="invalid_grant: revoked")
    )
    db.commit()
    with pytest.raises(NeedsReauth):
        graph_token_for(user)


def test_a_dropped_encryption_key_is_not_hidden_by_memory(app, client, sandbox, db):
    user = _signed_in(client, sandbox, db)
    graph_token_for(user)
    app.config["ENCRYPTION_KEYS"] = (Fernet.generate_key().decode(),)  # old key dropped
    with pytest.raises(NeedsReauth) as raised:
        graph_token_for(user)
    assert raised.value.reason == "cache_unreadable"


def test_a_worker_new_to_the_user_takes_the_stored_token_without_the_lock(
    app, client, sandbox, db, short_lock_wait
):
    """A worker syncs each mailbox about once an hour, so it has rarely seen the user's token
    before: it reads the still-valid token from the stored cache as MSAL's silent lookup
    would, with no lock, no MSAL client and no call to the identity platform."""
    user = _signed_in(client, sandbox, db)
    stored = graph_token_for(user)
    app.extensions["courier_graph_tokens"].clear()  # as in a worker that never served them
    grants = sandbox.control("/_sandbox/identity/stats", method="GET")["grant_counts"]
    lock = _refresh_lock_held_elsewhere(user)
    try:
        assert graph_token_for(user) == stored  # the locked path would give up
    finally:
        lock.release()
    assert sandbox.control("/_sandbox/identity/stats", method="GET")["grant_counts"] == grants


def test_a_token_about_to_expire_goes_through_the_lock_again(
    app, client, sandbox, db, short_lock_wait
):
    """Less than five minutes left in the stored cache (or MSAL's refresh_on passed): the
    caller takes the locked path, which refreshes; memory does not hide it either."""
    sandbox.control("/_sandbox/identity/settings", {"access_token_lifetime": FRESH_FOR_SECONDS})
    user = _signed_in(client, sandbox, db)
    first = graph_token_for(user)
    lock = _refresh_lock_held_elsewhere(user)
    try:
        with pytest.raises(TokenUnavailable):  # near its expiry: the caller goes for the lock
            graph_token_for(user)
    finally:
        lock.release()
    assert graph_token_for(user) != first  # refreshed under the lock


def test_only_our_clients_bearer_token_for_the_account_and_every_scope_is_used():
    """The lock-free lookup matches what MSAL's silent lookup would hand out as is."""
    now = time.time()
    cache = msal.SerializableTokenCache()
    entries = {
        "right": ("client", "acct", "Calendars.Read Mail.Read User.Read openid", 3600, {}),
        "other client": ("other", "acct", "Calendars.Read Mail.Read User.Read", 3600, {}),
        "other account": ("client", "someone", "Calendars.Read Mail.Read User.Read", 3600, {}),
        "a scope short": ("client", "acct", "Mail.Read User.Read", 3600, {}),
        "nearly expired": ("client", "acct", "Calendars.Read Mail.Read User.Read", 200, {}),
        "due for refresh": (
            "client",
            "acct",
            "Calendars.Read Mail.Read User.Read",
            3600,
            {"refresh_on": str(int(now) - 1)},
        ),
        "pop": (
            "client",
            "acct",
            "Calendars.Read Mail.Read User.Read",
            3600,
            {"token_type": "pop"},
        ),
    }
    for secret, (client_id, account, target, lifetime, extra) in entries.items():
        cache._cache.setdefault("AccessToken", {})[secret] = {
            "credential_type": "AccessToken",
            "secret": secret,
            "home_account_id": account,
            "environment": "login.example",
            "client_id": client_id,
            "target": target,
            "realm": "tenant",
            "token_type": "Bearer",
            "cached_at": str(int(now)),
            "expires_on": str(int(now) + lifetime),
            **extra,
        }
    scopes = ["User.Read", "Mail.Read", "Calendars.Read"]
    found = usable_access_token(cache, "client", "acct", scopes, now)
    assert found is not None and found["secret"] == "right"
    del cache._cache["AccessToken"]["right"]
    assert usable_access_token(cache, "client", "acct", scopes, now) is None
    assert usable_access_token(cache, "client", "", scopes, now) is None
