"""Keeps `make run`'s child processes alive: a child that dies is restarted with backoff and
the restart is logged; only a stop request (Ctrl-C, SIGTERM) ends them all.

Each child runs in its own process group, so stopping or replacing it also ends what it
forked (gunicorn's workers, an RQ work-horse left behind by a SIGKILLed worker).
"""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
import time
from collections.abc import Callable
from dataclasses import dataclass, field

CHILD_GRACE_SECONDS = 10
# First restart after 1 s, then doubling up to a minute; a child that stayed up this long
# counts as healthy again and its next crash restarts at once-ish.
BACKOFF_FIRST_SECONDS = 1.0
BACKOFF_MAX_SECONDS = 60.0
HEALTHY_AFTER_SECONDS = 30.0


def backoff_seconds(consecutive_failures: int) -> float:
    """Delay before restart number `consecutive_failures` (1-based) of a child."""
    exponent = max(0, consecutive_failures - 1)
    return min(BACKOFF_MAX_SECONDS, BACKOFF_FIRST_SECONDS * 2**exponent)


@dataclass
class Child:
    name: str
    start: Callable[[], subprocess.Popen]
    proc: subprocess.Popen | None = None
    started_at: float = 0.0
    failures: int = 0
    restart_at: float | None = None
    restarts: int = field(default=0)

    def launch(self, log: Callable[[str], None]) -> None:
        self.proc = self.start()
        self.started_at = time.monotonic()
        self.restart_at = None
        log(f"started {self.name} (pid {self.proc.pid})")


def kill_group(proc: subprocess.Popen, sig: int) -> None:
    with contextlib.suppress(ProcessLookupError, PermissionError):  # the group is gone
        os.killpg(proc.pid, sig)


class Supervisor:
    def __init__(self, log: Callable[[str], None]) -> None:
        self.children: list[Child] = []
        self.log = log

    def add(self, name: str, start: Callable[[], subprocess.Popen]) -> Child:
        child = Child(name, start)
        child.launch(self.log)
        self.children.append(child)
        return child

    def check(self, now: float | None = None) -> None:
        """Notice children that exited and restart those whose backoff has passed."""
        now = time.monotonic() if now is None else now
        for child in self.children:
            proc = child.proc
            if child.restart_at is None and proc is not None and proc.poll() is not None:
                # Whatever it forked dies with it, so the replacement starts clean.
                kill_group(proc, signal.SIGKILL)
                uptime = now - child.started_at
                child.failures = 1 if uptime >= HEALTHY_AFTER_SECONDS else child.failures + 1
                delay = backoff_seconds(child.failures)
                child.restart_at = now + delay
                self.log(
                    f"{child.name} (pid {proc.pid}) exited with code {proc.returncode} after "
                    f"{uptime:.1f}s; restarting in {delay:.0f}s (failure {child.failures} in a row)"
                )
            if child.restart_at is not None and now >= child.restart_at:
                child.restarts += 1
                try:
                    child.launch(self.log)
                except Exception as exc:  # e.g. a port still taken: try again later
                    child.failures += 1
                    child.restart_at = now + backoff_seconds(child.failures)
                    self.log(f"{child.name} could not start: {exc}; retrying")

    def stop(self, names: set[str] | None = None) -> None:
        """SIGTERM the children (all, or those named), then SIGKILL whoever outlives the grace."""
        chosen = [c for c in self.children if names is None or c.name in names]
        running = [c for c in chosen if c.proc is not None and c.proc.poll() is None]
        for child in running:
            kill_group(child.proc, signal.SIGTERM)
        deadline = time.monotonic() + CHILD_GRACE_SECONDS
        for child in running:
            try:
                child.proc.wait(timeout=max(0.1, deadline - time.monotonic()))
            except subprocess.TimeoutExpired:
                self.log(f"{child.name} did not stop in time; killing it")
                kill_group(child.proc, signal.SIGKILL)
                child.proc.wait()
        for child in chosen:
            if child.proc is not None:
                kill_group(child.proc, signal.SIGKILL)  # leftovers of its group
            child.restart_at = None
