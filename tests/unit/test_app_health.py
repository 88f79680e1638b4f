"""Health in application mode (server/sync/health_app.py), from records alone: the user's own
Microsoft connection plays no part; the organisation's grant and the tenant's refusal do."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from server.models.connections import MicrosoftConnection
from server.models.sync import SyncSession
from server.models.tenancy import Organisation, User
from server.sync.app_scheduling import may_sync, refused
from server.sync.health import classify

NOW = datetime(2026, 11, 23, 12, 0, tzinfo=UTC)


def _session(status: str, minutes_ago: float, error: str = "") -> SyncSession:
    started = NOW - timedelta(minutes=minutes_ago)
    return SyncSession(
        status=status, started_at=started, finished_at=started + timedelta(seconds=5), error=error
    )


def _user(scope: str | None = "in", grant_error: str = "", mode: str = "application") -> User:
    org = Organisation(sync_mode=mode, app_grant_error=grant_error)
    return User(sync_enabled=True, organisation=org, app_scope=scope)


@pytest.mark.parametrize(
    "user, sessions, expected",
    [
        (_user(), [], "not_started"),  # in scope, no session yet, never signed in
        (_user(), [_session("succeeded", 5)], "up_to_date"),
        (
            _user(),
            [_session("refused", 5, "MailboxOutOfScope: Access to OData")],
            "not_in_app_scope",
        ),
        # Refused at the last poll, 50 minutes ago: still the state until a session works.
        (_user(), [_session("refused", 50), _session("succeeded", 200)], "not_in_app_scope"),
        (
            _user(grant_error="consent_missing: no Mail.Read"),
            [_session("succeeded", 5)],
            "app_grant_missing",
        ),
        (_user(grant_error="credential_rejected: AADSTS7000215"), [], "app_grant_missing"),
        (_user(scope="removed"), [_session("succeeded", 5)], "removed_from_scope"),
        (_user(scope=None), [], "disabled"),
        # A grant that works again: the old AppGrantMissing session does not stick.
        (
            _user(),
            [_session("needs_reauth", 5, "AppGrantMissing: consent_missing")],
            "delayed",
        ),
    ],
)
def test_application_mode_states(user, sessions, expected):
    assert classify(user, None, sessions, False, NOW) == expected


def test_a_users_own_revoked_sign_in_does_not_matter_in_application_mode():
    revoked = MicrosoftConnection(needs_reauth=True, updated_at=NOW - timedelta(days=1))
    assert classify(_user(), revoked, [_session("succeeded", 5)], False, NOW) == "up_to_date"
    delegated = _user(mode="delegated")
    assert classify(delegated, revoked, [_session("succeeded", 5)], False, NOW) == "needs_reauth"


def test_who_the_scheduler_may_sync():
    assert may_sync("application", "in", None)  # no connection needed
    assert not may_sync("application", None, False)  # signed in, but not in the scope
    assert not may_sync("application", "removed", False)
    assert may_sync("delegated", None, False)
    assert not may_sync("delegated", "in", None)  # delegated needs a connection
    assert refused([_session("refused", 5)]) and not refused([]) and not refused(None)
