"""server/gunicorn_conf.py: the one web server configuration (make run, the image, the bench)."""

from __future__ import annotations

import gc

from server import gunicorn_conf
from server.rules import domains


def test_a_worker_freezes_what_lives_as_long_as_it_before_serving():
    # A full collection that walks the app's ~150,000 long-lived objects stalls every thread
    # of the worker for 50-130 ms (bench/load.py's p99); frozen, they are never walked.
    domains.registrable_domain.cache_clear()
    gc.unfreeze()
    try:
        gunicorn_conf.post_worker_init(None)
        assert gc.get_freeze_count() > 50_000
        # Built before the freeze, not on some rep's first request.
        assert domains.registrable_domain.cache_info().currsize >= 1
    finally:
        gc.unfreeze()


def test_the_server_runs_threaded_workers_without_an_access_log():
    assert gunicorn_conf.worker_class == "gthread"
    assert gunicorn_conf.accesslog is None
    assert gunicorn_conf.workers >= 1 and gunicorn_conf.threads >= 1
