"""Sync health states (PRODUCT §3) and due-ness, from session records alone."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from server.models.connections import MicrosoftConnection
from server.models.sync import SyncSession
from server.models.tenancy import User
from server.sync.health import classify
from server.sync.scheduler import is_due, worker_is_dead

NOW = datetime(2026, 11, 23, 12, 0, tzinfo=UTC)


def _session(status: str, minutes_ago: float, initial: bool = False, **extra) -> SyncSession:
    started = NOW - timedelta(minutes=minutes_ago)
    finished = None if status == "running" else started + timedelta(seconds=30)
    return SyncSession(
        status=status,
        started_at=started,
        finished_at=finished,
        heartbeat_at=started,
        initial=initial,
        **extra,
    )


def _user(enabled: bool = True) -> User:
    return User(sync_enabled=enabled)


def _connection(needs_reauth: bool = False) -> MicrosoftConnection:
    return MicrosoftConnection(needs_reauth=needs_reauth, updated_at=NOW - timedelta(days=1))


@pytest.mark.parametrize(
    "sessions, initial_pending, expected",
    [
        ([], True, "not_started"),
        ([_session("running", 1, initial=True)], True, "initializing"),
        ([_session("succeeded", 5)], False, "up_to_date"),
        ([_session("succeeded", 45)], False, "delayed"),
        ([_session("failed", 5), _session("succeeded", 40)], False, "delayed"),
        (
            [_session("failed", 5), _session("failed", 15), _session("abandoned", 25)],
            False,
            "stalled",
        ),
        ([_session("succeeded", 180)], False, "stalled"),
        ([_session("needs_reauth", 5)], False, "needs_reauth"),
        # CRM budget pauses are waits, not failures: never "stalled" by themselves.
        ([_session("paused", 5), _session("paused", 15), _session("paused", 25)], False, "delayed"),
        ([_session("paused", 5), _session("succeeded", 15)], False, "up_to_date"),
        ([_session("running", 1), _session("succeeded", 11)], False, "up_to_date"),
    ],
)
def test_health_states(sessions, initial_pending, expected):
    assert classify(_user(), _connection(), sessions, initial_pending, NOW) == expected


def test_disabled_and_not_connected_and_revoked():
    assert classify(_user(enabled=False), _connection(), [], False, NOW) == "disabled"
    assert classify(_user(), None, [], True, NOW) == "not_started"
    assert (
        classify(_user(), _connection(needs_reauth=True), [_session("succeeded", 1)], False, NOW)
        == "needs_reauth"
    )


INTERVAL = timedelta(minutes=10)


@pytest.mark.parametrize(
    "sessions, due",
    [
        ([], True),
        ([_session("running", 1)], False),
        ([_session("succeeded", 5)], False),
        ([_session("succeeded", 11)], True),
        ([_session("failed", 11)], True),  # first failure: the normal interval
        ([_session("failed", 11), _session("failed", 30)], False),  # then doubling back-off
        ([_session("failed", 21), _session("failed", 40)], True),
        ([_session("needs_reauth", 60)], False),  # stopped until the user signs in again
    ],
)
def test_due(sessions, due):
    assert is_due(sessions, NOW, INTERVAL) is due


def test_a_dead_worker_is_told_by_its_pid_or_a_stale_heartbeat():
    import socket

    alive = _session("running", 0, worker=f"{socket.gethostname()}:1")  # pid 1 exists
    assert not worker_is_dead(alive, NOW, 300)
    gone = _session("running", 0, worker=f"{socket.gethostname()}:999999999")
    assert worker_is_dead(gone, NOW, 300)
    stale = _session("running", 10, worker="elsewhere:123")
    assert worker_is_dead(stale, NOW, 300)


def _crm(**state) -> dict:
    return {"name": "salesforce", "connected": True, "needs_reauth": False, **state}


def test_a_crm_grant_decides_needs_reauth_by_its_own_connection():
    crm_refused = _session("needs_reauth", 5, error="CRMAuthError: Salesforce needs to connect")
    ok = [_session("succeeded", 5)]
    assert classify(_user(), _connection(), ok, False, NOW, _crm(needs_reauth=True)) == (
        "needs_reauth"
    )
    assert classify(_user(), _connection(), ok, False, NOW, _crm(connected=False)) == (
        "not_started"
    )
    # Reconnected since the refused session: the CRM's connection is the truth.
    assert classify(_user(), _connection(), [crm_refused], False, NOW, _crm()) != "needs_reauth"
    microsoft_refused = _session("needs_reauth", 5, error="NeedsReauth: grant revoked")
    assert classify(_user(), _connection(), [microsoft_refused], False, NOW, _crm()) == (
        "needs_reauth"
    )
