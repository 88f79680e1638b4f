"""Prometheus metrics at /metrics (behind METRICS_TOKEN), counted in Redis.

Why Redis and not prometheus_client's multiprocess mode: the numbers come from gunicorn's
worker processes, from RQ work-horses (RQ forks one per job, so a multiprocess directory would
gain files for every job, forever) and from workers on other machines (the README's scaling
runbook), which share no directory with the web process but all share Redis. Each recording is
one pipelined Redis round trip; any web replica answers /metrics with the cluster's totals, and
prometheus_client formats them (custom collector, `generate_latest`).

What a request or a job counts (a request's own HTTP figures, the items a save saved, a sync
session's outcome and every Graph answer it got) is not sent with a Redis round trip each: it
is added up in memory (`RequestBuffer`). A background thread sends a web process's sums every
FLUSH_SECONDS in one pipeline; a worker sends a job's when the job ends (server/periodic.py),
before RQ's work-horse exits without running atexit. A scrape flushes its own process first, a
process that exits cleanly flushes at exit; one killed with SIGKILL loses at most its last
FLUSH_SECONDS of counts, or its running job's (bench/load.py measured the per-request cost this
saves; an idle sync session sent seven round trips of counts before).

Metrics are declared as data below; `inc` and `observe` record them by name.
"""

from __future__ import annotations

import atexit
import hmac
import json
import logging
import os
import threading
import time
import weakref
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

from flask import (
    Blueprint,
    Flask,
    Response,
    current_app,
    g,
    has_app_context,
    request,
)
from prometheus_client import CONTENT_TYPE_LATEST, CollectorRegistry, generate_latest
from prometheus_client.core import (
    CounterMetricFamily,
    GaugeMetricFamily,
    HistogramMetricFamily,
)
from prometheus_client.core import (
    Metric as PromMetric,
)
from redis import Redis
from redis.exceptions import RedisError
from rq.registry import StartedJobRegistry

from .errors import ApiError
from .queues import all_queues, get_redis

log = logging.getLogger(__name__)

KEY_PREFIX = "courier:metrics:"
LATENCY_BUCKETS = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0)


@dataclass(frozen=True)
class Metric:
    name: str
    kind: str  # "counter" or "histogram"
    help: str
    labels: tuple[str, ...]
    buckets: tuple[float, ...] = ()


METRICS: dict[str, Metric] = {
    m.name: m
    for m in (
        Metric(
            "courier_http_requests",
            "counter",
            "HTTP requests answered, by route, method and status.",
            ("route", "method", "status"),
        ),
        Metric(
            "courier_http_request_duration_seconds",
            "histogram",
            "Time to answer an HTTP request, by route and method.",
            ("route", "method"),
            LATENCY_BUCKETS,
        ),
        Metric(
            "courier_sync_sessions",
            "counter",
            "Background sync sessions finished, by outcome (succeeded, failed, ...).",
            ("outcome",),
        ),
        Metric(
            "courier_quiet_polls",
            "counter",
            "Quiet safety polls of watched mailboxes, by outcome: nothing_new (recorded as the "
            "mailbox's session), found (a change: a fresh session reads it) or handed_off "
            "(to a session in the poll's place).",
            ("outcome",),
        ),
        Metric(
            "courier_items_saved",
            "counter",
            "Emails and meetings written to the CRM, by source (pane, pane_queue, sync).",
            ("source",),
        ),
        Metric(
            "courier_outbound_requests",
            "counter",
            "Calls to Microsoft (identity, Graph) and Salesforce, by service and HTTP status.",
            ("service", "status"),
        ),
        Metric(
            "courier_outbound_throttled",
            "counter",
            "Throttled answers from Graph or Salesforce (429, 503, REQUEST_LIMIT_EXCEEDED).",
            ("service",),
        ),
    )
}

_SEP = "\x1f"  # between the label part and the bucket part of a histogram's hash field
_WARN_EVERY_SECONDS = 60.0
_last_warning = 0.0


def _labels_field(metric: Metric, labels: dict[str, Any]) -> str:
    if set(labels) != set(metric.labels):
        raise ValueError(f"{metric.name}: labels {sorted(labels)} != {sorted(metric.labels)}")
    return json.dumps([str(labels[name]) for name in metric.labels])


def counter_commands(name: str, amount: int = 1, **labels: Any) -> list[tuple]:
    metric = METRICS[name]
    return [("hincrby", KEY_PREFIX + name, _labels_field(metric, labels), amount)]


def histogram_commands(name: str, value: float, **labels: Any) -> list[tuple]:
    metric = METRICS[name]
    field = _labels_field(metric, labels)
    bucket = next((i for i, le in enumerate(metric.buckets) if value <= le), len(metric.buckets))
    key = KEY_PREFIX + name
    return [
        ("hincrby", key, f"{field}{_SEP}{bucket}", 1),
        ("hincrbyfloat", key, f"{field}{_SEP}sum", value),
    ]


def current_redis() -> Redis | None:
    """The app's Redis, for code that records later from a thread without app context."""
    return current_app.extensions.get("redis") if has_app_context() else None


def current_buffer() -> RequestBuffer | None:
    """The app's buffer, for code that records later from a thread without app context."""
    return current_app.extensions.get("metrics_buffer") if has_app_context() else None


def record(commands: list[tuple], buffer: RequestBuffer | None, redis: Redis | None) -> None:
    """Counter commands into `buffer` (sent with the request's or job's other counts), or
    in a round trip of their own outside any app (`redis`, else dropped)."""
    if buffer is None:
        send(commands, redis)
    else:
        buffer.add(commands)


def send(commands: Iterable[tuple], redis: Redis | None = None) -> None:
    """Write the commands in one round trip (to `redis`, else the current app's). Metrics never
    fail the work they count: without Redis (which /readyz reports) they are dropped, with a
    warning a minute at most."""
    global _last_warning
    redis = redis or current_redis()
    if redis is None:
        return
    try:
        pipe = redis.pipeline(transaction=False)
        for op, *args in commands:
            getattr(pipe, op)(*args)
        pipe.execute()
    except (RedisError, RuntimeError, OSError) as exc:
        now = time.monotonic()
        if now - _last_warning > _WARN_EVERY_SECONDS:
            _last_warning = now
            log.warning("metrics not recorded: %s", type(exc).__name__)


FLUSH_SECONDS = 1.0


class RequestBuffer:
    """Counter and histogram increments of one app in one process (its requests' and its
    jobs'), summed until flushed."""

    def __init__(self, extensions: dict) -> None:
        self.extensions = extensions  # the app's: its Redis is set up after us
        self.lock = threading.Lock()
        self.pending: dict[tuple[str, str, str], float] = {}

    def add(self, commands: Iterable[tuple]) -> None:
        with self.lock:
            for op, key, field, amount in commands:
                slot = (op, key, field)
                self.pending[slot] = self.pending.get(slot, 0) + amount
        _ensure_flusher()

    def flush(self) -> None:
        with self.lock:
            pending, self.pending = self.pending, {}
        if pending:
            send(
                [(op, key, field, amount) for (op, key, field), amount in pending.items()],
                self.extensions.get("redis"),
            )

    def forget(self) -> None:
        """In a forked child: the parent's sums are the parent's to send."""
        self.lock = threading.Lock()
        self.pending = {}


_buffers: weakref.WeakSet[RequestBuffer] = weakref.WeakSet()
_flusher_pid: int | None = None
_flusher_lock = threading.Lock()


def flush_all() -> None:
    """Send every app's sums in this process now (at exit; tests before they empty Redis)."""
    for buffer in list(_buffers):
        buffer.flush()


def flush_metrics(app: Flask) -> None:
    """Send the app's sums in this process now (a job's, when it ends)."""
    buffer = app.extensions.get("metrics_buffer")
    if buffer is not None:
        buffer.flush()


def _flush_forever() -> None:
    while True:
        time.sleep(FLUSH_SECONDS)  # a timer, not synchronisation: it paces the flushes
        flush_all()


def _ensure_flusher() -> None:
    """One flushing thread per process, started on first use (gunicorn forks its workers after
    importing us, and a thread does not survive a fork)."""
    global _flusher_pid
    if _flusher_pid == os.getpid():
        return
    with _flusher_lock:
        if _flusher_pid != os.getpid():
            threading.Thread(target=_flush_forever, name="metrics-flush", daemon=True).start()
            _flusher_pid = os.getpid()


def _forget_after_fork() -> None:
    for buffer in list(_buffers):
        buffer.forget()


atexit.register(flush_all)
os.register_at_fork(after_in_child=_forget_after_fork)


def inc(name: str, amount: int = 1, **labels: Any) -> None:
    if not amount:
        return
    record(counter_commands(name, amount, **labels), current_buffer(), None)


def observe(name: str, value: float, **labels: Any) -> None:
    send(histogram_commands(name, value, **labels))


# --- Reading: Redis hashes -> Prometheus families -------------------------------------------


def _counter_family(metric: Metric, raw: dict[bytes, bytes]) -> PromMetric:
    family = CounterMetricFamily(metric.name, metric.help, labels=metric.labels)
    for field, value in sorted(raw.items()):
        family.add_metric(json.loads(field), int(value))
    return family


def _histogram_family(metric: Metric, raw: dict[bytes, bytes]) -> PromMetric:
    per_labels: dict[str, dict[str, float]] = {}
    for field, value in raw.items():
        labels, _, part = field.decode().rpartition(_SEP)
        per_labels.setdefault(labels, {})[part] = float(value)
    family = HistogramMetricFamily(metric.name, metric.help, labels=metric.labels)
    for labels, parts in sorted(per_labels.items()):
        running, buckets = 0.0, []
        for i, le in enumerate((*metric.buckets, float("inf"))):
            running += parts.get(str(i), 0.0)
            buckets.append(("+Inf" if le == float("inf") else repr(le), running))
        family.add_metric(json.loads(labels), buckets, parts.get("sum", 0.0))
    return family


class RedisCollector:
    def __init__(self, redis) -> None:
        self.redis = redis

    def collect(self) -> Iterable[PromMetric]:
        pipe = self.redis.pipeline(transaction=False)
        for name in METRICS:
            pipe.hgetall(KEY_PREFIX + name)
        for metric, raw in zip(METRICS.values(), pipe.execute(), strict=True):
            if metric.kind == "counter":
                yield _counter_family(metric, raw)
            else:
                yield _histogram_family(metric, raw)
        depth = GaugeMetricFamily(
            "courier_queue_depth", "Jobs waiting in each RQ queue.", labels=["queue"]
        )
        running = GaugeMetricFamily(
            "courier_queue_running", "Jobs being run from each RQ queue.", labels=["queue"]
        )
        for queue in all_queues():
            depth.add_metric([queue.name], queue.count)
            started = StartedJobRegistry(queue.name, connection=self.redis)
            running.add_metric([queue.name], started.count)
        yield depth
        yield running


def render() -> bytes:
    flush_metrics(current_app)  # this process's latest requests are in the answer
    registry = CollectorRegistry(auto_describe=False)
    registry.register(RedisCollector(get_redis()))
    return generate_latest(registry)


bp = Blueprint("metrics", __name__)


@bp.get("/metrics")
def metrics_endpoint() -> Response:
    token = current_app.config["METRICS_TOKEN"]
    if not token:
        raise ApiError(404, "not_found", "Metrics are off: set METRICS_TOKEN to turn them on.")
    given = request.headers.get("Authorization", "")
    if not hmac.compare_digest(given.encode(), f"Bearer {token}".encode()):
        raise ApiError(401, "unauthorized", "Send Authorization: Bearer <METRICS_TOKEN>.")
    return Response(render(), mimetype=CONTENT_TYPE_LATEST.split(";")[0], headers=_NO_STORE)


_NO_STORE = {"Cache-Control": "no-store"}


# --- Recording every HTTP request -------------------------------------------------------------

request_log = logging.getLogger("courier.request")


def init_app(app: Flask) -> None:
    app.register_blueprint(bp)
    buffer = RequestBuffer(app.extensions)
    app.extensions["metrics_buffer"] = buffer
    _buffers.add(buffer)

    @app.before_request
    def _start_timer() -> None:
        g.metrics_started = time.perf_counter()

    @app.after_request
    def _count_request(response: Response) -> Response:
        started = g.pop("metrics_started", None)
        route = request.url_rule.rule if request.url_rule is not None else "unmatched"
        commands = counter_commands(
            "courier_http_requests",
            route=route,
            method=request.method,
            status=response.status_code,
        )
        duration = None
        if started is not None:
            duration = time.perf_counter() - started
            commands += histogram_commands(
                "courier_http_request_duration_seconds",
                duration,
                route=route,
                method=request.method,
            )
        buffer.add(commands)
        # One line per request, in place of gunicorn's access log: the path without its query
        # string, so an OAuth `code` or a `next` never reaches the logs.
        request_log.info(
            "%s %s %s",
            request.method,
            request.path,
            response.status_code,
            extra={
                "method": request.method,
                "route": route,
                "path": request.path,
                "status": response.status_code,
                "duration_ms": None if duration is None else round(duration * 1000, 2),
            },
        )
        return response
