"""gunicorn's settings: one file for every way Courier's web server runs (`make run` through
server/launcher.py, the container's `web` role, bench/load.py), so what the load benchmark
measures is what a deployment runs. `gunicorn -c python:server.gunicorn_conf`.

- gthread workers: a request mostly waits on PostgreSQL, Redis or Graph, so each process serves
  WEB_THREADS requests at once; the GIL caps one process at one core, so WEB_CONCURRENCY
  processes use the machine's cores (default: one per core; README, "Load on one machine").
- keepalive: the pane and Caddy reuse connections; 5 s (gunicorn's default is 2 s) keeps a rep's
  connection open between two emails, and gthread parks idle connections without holding a
  thread.
- reuse_port: each worker process opens its own listening socket (SO_REUSEPORT) and the
  kernel spreads new connections over them. With one socket shared by all processes, the
  process that wakes first takes the connection, and it was the same one nearly every time:
  under bench/load.py one process served 92 % of the requests (0.70 cores; the other 0.07)
  while requests queued for its GIL. https://docs.gunicorn.org/en/stable/settings.html#reuse-port
  https://blog.cloudflare.com/the-sad-state-of-linux-socket-balancing/
- No access log: gunicorn's request line carries the query string (the OAuth `code` at
  /auth/callback); the app logs each request without it (server/metrics.py).
"""

from __future__ import annotations

import gc
import os

wsgi_app = "server.wsgi:app"
bind = [f"0.0.0.0:{os.environ.get('PORT') or 8000}"]
worker_class = "gthread"
workers = int(os.environ.get("WEB_CONCURRENCY") or os.cpu_count() or 2)
threads = int(os.environ.get("WEB_THREADS") or 4)
keepalive = 5
reuse_port = True
accesslog = None


def post_worker_init(_worker) -> None:
    """Once the app is loaded in a worker: everything built so far (modules, the app, the
    mappers) lives as long as the process, so move it out of the garbage collector's sight.
    Otherwise every full collection walks those ~150,000 objects while holding the GIL — a
    50–130 ms stall of all the worker's threads, a few times a minute under load, which was
    the p99 (bench/load.py). Later collections see only what requests create.
    https://docs.python.org/3/library/gc.html#gc.freeze"""
    from sqlalchemy.orm import configure_mappers

    from server.rules.domains import registrable_domain

    # Built lazily otherwise, i.e. after the freeze and during some rep's request: the mappers
    # on the first query, the Public Suffix List (~0.7 s of CPU) on the first suggestions.
    configure_mappers()
    registrable_domain("example.com")
    gc.collect()
    gc.freeze()
