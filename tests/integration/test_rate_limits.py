"""Sign-in rate limits (server/ratelimit.py, Flask-Limiter in the real Redis): each request
counts against what an attacker cannot share with a victim — the one-time code, else the
browser's own session, else (no cookie) the client address — under a per-address ceiling."""

from __future__ import annotations

import pytest

from server import ratelimit, security
from server.sandbox.directory import DEMO_USERS
from tests.conftest import make_test_app
from tests.integration.signin_helpers import browser_sign_in, one_time_code


@pytest.fixture
def app_config(sandbox):
    return {**sandbox.settings(), "SIGNIN_RATE_LIMIT_PER_MINUTE": 2}


def _exchange(client, code: str, address: str = "127.0.0.1") -> int:
    return client.post(
        "/auth/api/exchange", json={"code": code}, environ_base={"REMOTE_ADDR": address}
    ).status_code


def _starts(client, count: int, **headers) -> list[int]:
    return [client.get("/auth/signin", headers=headers).status_code for _ in range(count)]


def test_the_hand_written_limiter_is_gone():
    assert not hasattr(security, "rate_limit")
    assert ratelimit.limiter.__class__.__module__.startswith("flask_limiter")


def test_one_code_is_limited_and_answers_the_json_shape(client, redis_client):
    assert [_exchange(client, "guess") for _ in range(2)] == [400, 400]
    limited = client.post("/auth/api/exchange", json={"code": "guess"})
    assert limited.status_code == 429
    assert limited.json["error"] == "rate_limited" and limited.json["message"]
    assert int(limited.headers["Retry-After"]) > 0
    # Counted in Redis by Flask-Limiter, not in this process.
    assert any(b"courier" in key for key in redis_client.keys("*"))


def test_junk_codes_do_not_lock_out_a_real_code_from_the_same_address(app, client, sandbox):
    # An attacker behind the victim's NAT hammers the exchange with guesses...
    attacker = app.test_client(use_cookies=False)
    assert [_exchange(attacker, "guess") for _ in range(3)] == [400, 400, 429]
    assert [_exchange(attacker, f"guess-{i}") for i in range(3)] == [400, 400, 400]
    # ...and the victim's own code, from the same address, still works.
    bridge = browser_sign_in(client, sandbox, DEMO_USERS[1])
    assert _exchange(client, one_time_code(bridge.text)) == 200


def test_a_browser_is_limited_by_its_own_session(app, client):
    assert _starts(client, 3) == [302, 302, 429]
    # Another browser at the same address (its own cookie after the first request) is not
    # locked out by the first one's attempts.
    other = app.test_client()
    assert _starts(other, 2) == [302, 302]


def test_a_client_dropping_our_cookie_is_counted_by_its_address(app):
    cookieless = app.test_client(use_cookies=False)
    assert _starts(cookieless, 3) == [302, 302, 429]


def test_the_address_ceiling_bounds_a_flood_of_new_codes(app, client):
    app.config["SIGNIN_ADDRESS_LIMIT_PER_MINUTE"] = 5
    statuses = [_exchange(client, f"new-code-{i}") for i in range(7)]
    assert statuses == [400] * 5 + [429, 429]
    assert _exchange(client, "another", address="198.51.100.9") == 400  # other addresses not


def test_forwarded_for_is_ignored_without_trusted_proxies(app):
    # Otherwise anyone could dodge the address limit by inventing X-Forwarded-For values.
    cookieless = app.test_client(use_cookies=False)
    assert _starts(cookieless, 2, **{"X-Forwarded-For": "198.51.100.1"}) == [302, 302]
    assert _starts(cookieless, 1, **{"X-Forwarded-For": "198.51.100.2"}) == [429]


def test_behind_a_trusted_proxy_each_client_address_is_its_own(
    sandbox, database_url, redis_url, redis_client
):
    proxied = make_test_app(
        database_url,
        redis_url,
        TRUSTED_PROXY_HOPS=1,
        SIGNIN_RATE_LIMIT_PER_MINUTE=2,
        **sandbox.settings(),
    )
    with proxied.app_context():
        client = proxied.test_client(use_cookies=False)
        first = {"X-Forwarded-For": "198.51.100.1"}
        assert _starts(client, 3, **first) == [302, 302, 429]
        assert _starts(client, 1, **{"X-Forwarded-For": "198.51.100.2"}) == [302]
        https = client.get(
            "/healthz", headers={"X-Forwarded-For": "198.51.100.3", "X-Forwarded-Proto": "https"}
        )
        assert https.headers["Strict-Transport-Security"].startswith("max-age=")
    proxied.extensions["db_engine"].dispose()
