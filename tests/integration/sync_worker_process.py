"""An RQ worker process for the crash tests: the app from the environment's settings, then
the project's CourierSimpleWorker (no fork, so SIGKILL kills the job with it; a fresh app
context per job, as in production). --fork: the forking CourierWorker instead (a work-horse
per job, which ends with os._exit), without its scheduler."""

from __future__ import annotations

import sys

from server import create_app
from server.periodic import CourierSimpleWorker, CourierWorker
from server.queues import all_queues, get_redis


def main() -> None:
    app = create_app()
    with app.app_context():
        kind = CourierWorker if "--fork" in sys.argv else CourierSimpleWorker
        worker = kind(all_queues(), connection=get_redis())
        worker.work(burst="--burst" in sys.argv, with_scheduler=False, logging_level="WARNING")


if __name__ == "__main__":
    main()
