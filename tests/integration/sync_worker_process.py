"""An RQ worker process for the crash tests: the app from the environment's settings, then
the project's CourierSimpleWorker (no fork, so SIGKILL kills the job with it; a fresh app
context per job, as in production). --fork: the forking CourierWorker instead (a work-horse
per job, which ends with os._exit), without its scheduler. Once registered it says so on the
list the environment names, so a test waits for that event instead of polling the registry."""

from __future__ import annotations

import os
import sys

from server import create_app
from server.periodic import CourierSimpleWorker, CourierWorker
from server.queues import all_queues, get_redis

# The list the worker announces itself on once registered (worker_processes.wait_for_workers).
READY_KEY = "COURIER_TEST_READY_KEY"


def announcing(kind):
    class Announcing(kind):
        def register_birth(self):
            super().register_birth()
            if os.environ.get(READY_KEY):
                self.connection.rpush(os.environ[READY_KEY], os.getpid())

    return Announcing


def main() -> None:
    app = create_app()
    with app.app_context():
        kind = CourierWorker if "--fork" in sys.argv else CourierSimpleWorker
        worker = announcing(kind)(all_queues(), connection=get_redis())
        worker.work(burst="--burst" in sys.argv, with_scheduler=False, logging_level="WARNING")


if __name__ == "__main__":
    main()
