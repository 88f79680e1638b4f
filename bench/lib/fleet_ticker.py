"""bench/fleet.py's scheduler tick in a process of its own, as in production (the periodic
`tick` job runs in a worker process): the bench's own process also serves the sandbox and
our app over HTTP from threads, and a tick run there would wait for Python's lock behind
them, which no deployment does.

Reads one simulated moment per line (ISO 8601) on stdin, runs the tick's sync part at it
(finding the due mailboxes, queueing their sessions in one batch and their quiet polls)
and answers one line: the tick's wall time and its own CPU time, in milliseconds."""

from __future__ import annotations

import sys
import time
from datetime import datetime

from server import create_app
from server.sync.scheduler import enqueue_due


def main() -> None:
    app = create_app()
    for line in sys.stdin:
        at = datetime.fromisoformat(line.strip())
        with app.app_context():
            started, cpu = time.perf_counter(), time.process_time()
            enqueue_due(at)
            wall, cpu = time.perf_counter() - started, time.process_time() - cpu
        print(f"{wall * 1000:.3f} {cpu * 1000:.3f}", flush=True)


if __name__ == "__main__":
    main()
