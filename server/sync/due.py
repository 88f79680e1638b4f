"""When a mailbox's next session is due, from its last sessions alone (pure: no I/O).

Sessions are spread over the interval instead of all coming at the top of it: each mailbox
has a fixed phase in the interval (from a hash of its id), and its next session falls on its
phase, between half an interval and one and a half intervals after the last one ended. A
thousand mailboxes that first synced in the same minute drift apart on their next poll and
stay apart; the mean gap is still one interval.
"""

from __future__ import annotations

import hashlib
from collections.abc import Sequence
from datetime import UTC, datetime, timedelta
from typing import Protocol

MAX_BACKOFF = timedelta(hours=2)
EPOCH = datetime(2026, 1, 1, tzinfo=UTC)


class SessionLike(Protocol):
    status: str
    started_at: datetime
    finished_at: datetime | None


def phase_of(user_id: int) -> float:
    """A fixed fraction in [0, 1) per mailbox, evenly spread over mailboxes."""
    digest = hashlib.blake2b(str(user_id).encode(), digest_size=8).digest()
    return int.from_bytes(digest, "big") / 2**64


def consecutive_failures(sessions: Sequence[SessionLike]) -> int:
    failures = 0
    for session in sessions:
        if session.status not in ("failed", "abandoned"):
            break
        failures += 1
    return failures


def wait_after(sessions: Sequence[SessionLike], interval: timedelta) -> timedelta:
    """The interval, doubled per consecutive failure up to MAX_BACKOFF (a CRM budget
    pause is no failure: it waits one interval)."""
    failures = consecutive_failures(sessions)
    if failures == 0:
        return interval
    return min(interval * (2 ** (failures - 1)), MAX_BACKOFF)


def on_phase(earliest: datetime, period: timedelta, phase: float) -> datetime:
    """The first moment at or after `earliest` that sits at `phase` of `period`."""
    step = period.total_seconds()
    if step <= 0:
        return earliest
    offset = (earliest - EPOCH).total_seconds() % step
    target = phase * step
    delta = (target - offset) % step
    return earliest + timedelta(seconds=delta)


def due_at(
    sessions: Sequence[SessionLike], interval: timedelta, phase: float | None = None
) -> datetime | None:
    """When the next session is due (newest session first); None while one runs or the
    last one needs the user to sign in again. Without `phase`, exactly one wait after the
    last session ended; with it, on the mailbox's phase within ±half a wait of that."""
    if not sessions:
        return EPOCH
    last = sessions[0]
    if last.status in ("running", "needs_reauth"):
        return None
    finished = last.finished_at or last.started_at
    wait = wait_after(sessions, interval)
    if phase is None:
        return finished + wait
    return on_phase(finished + wait / 2, wait, phase)
