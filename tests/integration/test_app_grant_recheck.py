"""A revoked application grant that the tenant's admin restores in Entra (not through
Courier's consent page) resumes the sync on its own: the scheduler's tick asks the identity
platform again, at most once per organisation every APP_GRANT_RECHECK_MINUTES."""

from __future__ import annotations

from datetime import timedelta

import pytest
from sqlalchemy import select

from server.auth.app_tokens import app_grant_status
from server.db import utcnow
from server.models.sync import SyncSession
from server.models.tenancy import Organisation
from server.sandbox.directory import DEMO_USERS
from server.sync.jobs import enqueue_session
from server.sync.scheduler import schedule_tick
from tests.integration.app_mode_helpers import app_mode_users
from tests.integration.sync_helpers import FAST_RETRIES, configure_mailboxes

ALEX = DEMO_USERS[0]
RECHECK_MINUTES = 15


@pytest.fixture
def app_config(sandbox):
    return {**sandbox.settings(), **FAST_RETRIES, "APP_GRANT_RECHECK_MINUTES": RECHECK_MINUTES}


def _last_status(db, user) -> str:
    db.expire_all()
    return db.scalars(
        select(SyncSession.status)
        .where(SyncSession.user_id == user.id)
        .order_by(SyncSession.id.desc())
    ).first()


def _token_requests(sandbox) -> int:
    counts = sandbox.control("/_sandbox/identity/stats", method="GET")["grant_counts"]
    return counts.get("client_credentials", 0)


def _age_last_check(db, org_id: int, minutes: int) -> None:
    """The interval passing, without waiting for it: the last check moved back in time."""
    db.expire_all()
    org = db.get(Organisation, org_id)
    org.app_grant_checked_at = utcnow() - timedelta(minutes=minutes)
    db.commit()


def test_a_restored_grant_resumes_the_sync_from_the_tick(app, sandbox, db, run_jobs):
    configure_mailboxes(sandbox, messages=20, events=2)
    (alex,) = app_mode_users(db, sandbox, [ALEX])
    schedule_tick()
    run_jobs()
    assert _last_status(db, alex) == "succeeded"

    sandbox.control("/_sandbox/identity/revoke-app-grant", {"tenant_id": ALEX.tenant_id})
    sandbox.control("/_sandbox/identity/expire-access-tokens")
    enqueue_session(alex.id, "now")
    run_jobs()
    assert _last_status(db, alex) == "needs_reauth"
    org_id = alex.org_id

    # Still revoked: within the interval the tick asks nobody; after it, exactly once.
    asked = _token_requests(sandbox)
    assert schedule_tick() == []
    assert _token_requests(sandbox) == asked
    _age_last_check(db, org_id, RECHECK_MINUTES + 1)
    assert schedule_tick() == []
    assert schedule_tick() == []
    assert _token_requests(sandbox) == asked + 1
    assert app_grant_status(db.get(Organisation, org_id))["state"] == "missing"

    # The tenant's admin grants consent again in Entra; Courier is not told.
    sandbox.control("/_sandbox/identity/app-grant", {"tenant_id": ALEX.tenant_id})
    assert schedule_tick() == []  # the interval has not passed since the last check
    _age_last_check(db, org_id, RECHECK_MINUTES + 1)
    assert schedule_tick() == [alex.id]  # asked again, granted, due in the same tick
    db.expire_all()
    assert app_grant_status(db.get(Organisation, org_id))["state"] == "granted"
    run_jobs()
    assert _last_status(db, alex) == "succeeded"


def test_a_working_grant_is_not_asked_by_the_tick(app, sandbox, db, run_jobs):
    (alex,) = app_mode_users(db, sandbox, [ALEX])
    _age_last_check(db, alex.org_id, 10 * RECHECK_MINUTES)
    asked = _token_requests(sandbox)
    schedule_tick()
    assert _token_requests(sandbox) == asked  # only a refused grant is re-checked
