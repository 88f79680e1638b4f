"""Token refresh under a lock, then a re-read: many concurrent callers holding the same
refused access token make one refresh at the provider, and nobody is marked "needs re-auth"
(with Salesforce's refresh-token rotation on, a second refresh would spend a dead token)."""

from __future__ import annotations

import threading

import pytest
from sqlalchemy import select

from server.crm.salesforce import SalesforceCRM
from server.db import get_session
from server.models.connections import MicrosoftConnection
from server.models.crm_connections import SalesforceConnection
from server.models.tenancy import User

from .salesforce_harness import connect_user, salesforce_settings

CALLERS = 20


@pytest.fixture
def app_config(sandbox):
    return salesforce_settings(sandbox)


def _in_threads(app, fn, count: int) -> list:
    """Run fn(n) in `count` threads, each in its own app context (as a request or a job is),
    released together by a barrier; returns results (or raised exceptions) in order."""
    barrier = threading.Barrier(count)
    results: list = [None] * count

    def run(n: int) -> None:
        with app.app_context():
            try:
                results[n] = fn(n, barrier)
            except Exception as exc:  # reported by the assertion below, with its type
                results[n] = exc

    threads = [threading.Thread(target=run, args=(n,)) for n in range(count)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=120)
        assert not thread.is_alive(), "a refreshing thread hung"
    return results


@pytest.mark.parametrize("rotation", [True, False], ids=["rotating", "reusable"])
def test_twenty_concurrent_refreshes_of_one_salesforce_token_make_one(app, sandbox, db, rotation):
    user = connect_user(sandbox, db)
    sandbox.control("/_sandbox/salesforce/org", {"rotate_refresh_tokens": rotation})
    sandbox.control("/_sandbox/salesforce/stats/reset")
    sandbox.control("/_sandbox/salesforce/sessions/expire")

    building = threading.Lock()

    def look_up(n: int, barrier: threading.Barrier):
        # Built one at a time (20 threads each opening two sessions at once would exhaust the
        # test's connection pool); every caller starts with the expired token.
        with building:
            crm = SalesforceCRM.for_user(user)
            get_session().close()
        barrier.wait(timeout=60)
        return crm.find_people([f"someone{n}@domain{n}.test"])  # each refused once: 401

    results = _in_threads(app, look_up, CALLERS)
    assert results == [{}] * CALLERS, [r for r in results if r != {}]
    stats = sandbox.control("/_sandbox/salesforce/stats", method="GET")
    assert stats["token_requests"] == {"refresh_token": 1}
    db.expire_all()
    conn = db.scalar(select(SalesforceConnection))
    assert (conn.needs_reauth, conn.last_error) == (False, "")
    # And the token all twenty now share works.
    assert SalesforceCRM.for_user(user).find_people(["nobody@acme.test"]) == {}


def test_concurrent_forced_refreshes_of_one_microsoft_token_cache_make_one(
    app, client, sandbox, db
):
    """Graph refused the token twenty callers share (401): each asks for a forced refresh
    naming it; under the lock, the first refreshes and the others re-read its result."""
    from server.auth.tokens import graph_token_for
    from server.sandbox.directory import DEMO_USERS

    from .signin_helpers import browser_sign_in

    browser_sign_in(client, sandbox, DEMO_USERS[0])
    user = db.scalar(select(User).where(User.object_id == DEMO_USERS[0].object_id))
    refused = graph_token_for(user)
    before = sandbox.control("/_sandbox/identity/stats", method="GET")["grant_counts"]

    def refresh(_n: int, barrier: threading.Barrier) -> str:
        barrier.wait(timeout=60)
        return graph_token_for(user, force_refresh=True, refused=refused)

    results = _in_threads(app, refresh, CALLERS)
    assert all(isinstance(r, str) for r in results), [r for r in results if not isinstance(r, str)]
    assert len(set(results)) == 1 and results[0] != refused
    after = sandbox.control("/_sandbox/identity/stats", method="GET")["grant_counts"]
    assert after.get("refresh_token", 0) - before.get("refresh_token", 0) == 1
    db.expire_all()
    connection = db.scalar(select(MicrosoftConnection))
    assert not connection.needs_reauth
    assert graph_token_for(user) == results[0]  # the one refresh was written back
