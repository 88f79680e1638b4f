"""The restart backoff of `make run`'s supervisor (the process behaviour itself is proven in
tests/integration/test_launcher.py with a SIGKILLed worker)."""

from __future__ import annotations

import subprocess
import sys

import pytest

from server.supervisor import BACKOFF_MAX_SECONDS, Supervisor, backoff_seconds


@pytest.mark.parametrize(
    ("failures", "seconds"), [(1, 1.0), (2, 2.0), (3, 4.0), (6, 32.0), (7, 60.0), (50, 60.0)]
)
def test_backoff_doubles_up_to_a_minute(failures, seconds):
    assert backoff_seconds(failures) == seconds
    assert backoff_seconds(failures) <= BACKOFF_MAX_SECONDS


def test_a_child_that_keeps_crashing_waits_longer_each_time():
    lines: list[str] = []
    supervisor = Supervisor(lines.append)
    child = supervisor.add(
        "crasher",
        lambda: subprocess.Popen([sys.executable, "-c", "raise SystemExit(3)"]),
    )
    child.proc.wait(timeout=30)
    started = child.started_at
    supervisor.check(now=started + 0.1)  # noticed: first restart 1 s later
    assert child.restart_at == pytest.approx(started + 1.1)
    assert "exited with code 3" in lines[-1]
    supervisor.check(now=started + 0.5)  # backoff not over: not restarted yet
    assert child.restarts == 0
    supervisor.check(now=started + 1.2)
    assert child.restarts == 1
    child.proc.wait(timeout=30)
    supervisor.check(now=child.started_at + 0.1)  # crashed again quickly: 2 s now
    assert child.restart_at == pytest.approx(child.started_at + 2.1)
    supervisor.stop()
