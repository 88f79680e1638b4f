"""Cross-process locks in Redis for read-modify-write of shared secrets: a token refresh.

A refresh is lock → re-read what is stored → refresh only if nobody did meanwhile → store.
The lock is in Redis, not a database row lock, so no database transaction stays open while
the identity provider is called (DESIGN.md: no transaction across a provider call). It
expires by itself (`timeout`) if its holder dies; a holder that outlives it finds out on
release, and the stores' own fall-backs (e.g. a rotated Salesforce refresh token) cover it.
https://redis.io/docs/latest/develop/use/patterns/distributed-locks/ (single-instance lock)
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager, suppress

from redis.exceptions import LockError

from .queues import get_redis

LOCK_PREFIX = "courier:lock:"


class LockUnavailable(RuntimeError):
    """Another process held the lock for longer than we were willing to wait."""


def lock_key(name: str) -> str:
    return f"{LOCK_PREFIX}{name}"


@contextmanager
def held(name: str, timeout: float = 60, wait: float = 60) -> Iterator[None]:
    """Hold the lock `name` (at most `timeout` seconds; wait up to `wait` seconds for it)."""
    lock = get_redis().lock(lock_key(name), timeout=timeout, blocking_timeout=wait)
    if not lock.acquire():
        raise LockUnavailable(f"lock {name} is busy")
    try:
        yield
    finally:
        # Expired, and maybe someone else's now: nothing of ours to release.
        with suppress(LockError):
            lock.release()
