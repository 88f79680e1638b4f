"""When a mailbox's next session is due: the interval, its back-off, and the spread of
sessions over the interval by each mailbox's phase."""

from __future__ import annotations

from collections import Counter
from datetime import UTC, datetime, timedelta

import pytest

from server.models.sync import SyncSession
from server.sync.due import MAX_BACKOFF, due_at, on_phase, phase_of

NOW = datetime(2026, 11, 30, 12, 0, tzinfo=UTC)
HOUR = timedelta(hours=1)


def _ended(status: str, minutes_ago: float) -> SyncSession:
    at = NOW - timedelta(minutes=minutes_ago)
    return SyncSession(status=status, started_at=at, finished_at=at)


def test_without_a_phase_the_next_session_is_one_interval_after_the_last():
    assert due_at([_ended("succeeded", 0)], HOUR) == NOW + HOUR


def test_a_mailbox_never_synced_is_due_at_once():
    assert due_at([], HOUR, 0.3) <= NOW


@pytest.mark.parametrize("status", ["running", "needs_reauth"])
def test_nothing_is_due_while_a_session_runs_or_waits_for_a_sign_in(status):
    assert due_at([_ended(status, 90)], HOUR, 0.5) is None


def test_failures_back_off_doubling_up_to_the_cap():
    failures = [_ended("failed", 0) for _ in range(2)]
    assert due_at(failures, timedelta(minutes=10)) == NOW + timedelta(minutes=20)
    many = [_ended("failed", 0) for _ in range(10)]
    assert due_at(many, timedelta(minutes=10)) == NOW + MAX_BACKOFF
    paused = [_ended("paused", 0), _ended("failed", 5)]
    assert due_at(paused, timedelta(minutes=10)) == NOW + timedelta(minutes=10)


@pytest.mark.parametrize("phase", [0.0, 0.01, 0.25, 0.5, 0.99])
def test_with_a_phase_the_gap_stays_between_half_and_one_and_a_half_intervals(phase):
    for minutes in range(0, 120, 7):
        last = _ended("succeeded", -minutes)  # ended at NOW + minutes
        when = due_at([last], HOUR, phase)
        assert last.finished_at + HOUR / 2 <= when < last.finished_at + HOUR * 1.5


def test_the_phase_is_fixed_per_mailbox_and_lands_on_the_same_point_of_each_interval():
    first = on_phase(NOW, HOUR, phase_of(42))
    later = on_phase(NOW + timedelta(minutes=13), HOUR, phase_of(42))
    assert phase_of(42) == phase_of(42)
    assert (later - first) % HOUR == timedelta(0)


def test_mailboxes_that_synced_in_the_same_minute_spread_over_the_next_interval():
    """10,000 mailboxes all ended at NOW: their next sessions fill every tenth of the
    interval evenly instead of all coming together an interval later."""
    deciles = Counter()
    for user_id in range(1, 10_001):
        when = due_at([_ended("succeeded", 0)], HOUR, phase_of(user_id))
        deciles[int((when - NOW - HOUR / 2) / (HOUR / 10))] += 1
    assert set(deciles) == set(range(10))
    assert all(800 <= count <= 1200 for count in deciles.values()), deciles


def test_subscriptions_created_together_are_renewed_over_hours_not_in_one_minute():
    from collections import Counter as Count

    from server.models.sync import GraphSubscription
    from server.sync.webhooks import _apply

    granted = {"expirationDateTime": (NOW + timedelta(minutes=4230)).isoformat()}
    renewals = []
    for user_id in range(1, 5001):
        sub = GraphSubscription(user_id=user_id, resource=f"/users/u{user_id}/messages")
        _apply(sub, granted, NOW)
        assert (
            NOW + timedelta(minutes=4230 * 0.4)
            <= sub.renew_at
            <= NOW + timedelta(minutes=4230 * 0.6)
        )
        renewals.append(sub.renew_at)
    per_hour = Count(int((at - NOW).total_seconds() // 3600) for at in renewals)
    assert len(per_hour) >= 14  # spread over the 14 hours between 40 % and 60 % of 70.5 h
    assert max(per_hour.values()) <= 5000 * 0.12, per_hour
