"""/healthz (the process answers) and /readyz (database, Redis, worker and scheduler)."""

from __future__ import annotations

import time
from datetime import UTC, datetime

from flask import Blueprint, jsonify
from rq import Worker
from sqlalchemy import text

from .db import get_engine
from .periodic import HEARTBEAT_KEY
from .queues import get_redis

bp = Blueprint("health", __name__)

# A worker refreshes its heartbeat at least every ~worker_ttl (420 s by default); the tick runs
# every 60 s. Twice those is "late".
WORKER_MAX_AGE_SECONDS = 840
TICK_MAX_AGE_SECONDS = 180


@bp.get("/healthz")
def healthz():
    return jsonify({"status": "ok"})


def readiness() -> dict:
    checks: dict[str, dict] = {}
    try:
        with get_engine().connect() as conn:
            conn.execute(text("SELECT 1"))
        checks["database"] = {"ok": True}
    except Exception as exc:  # any driver error means "not reachable"
        checks["database"] = {"ok": False, "error": type(exc).__name__}

    try:
        redis = get_redis()
        redis.ping()
        checks["redis"] = {"ok": True}
    except Exception as exc:
        checks["redis"] = {"ok": False, "error": type(exc).__name__}
        redis = None

    now = time.time()
    worker_age = tick_age = None
    if redis is not None:
        beats = [w.last_heartbeat for w in Worker.all(connection=redis) if w.last_heartbeat]
        if beats:
            newest = max(b if b.tzinfo else b.replace(tzinfo=UTC) for b in beats)
            worker_age = round(now - newest.timestamp(), 1)
        raw = redis.get(HEARTBEAT_KEY)
        if raw:
            tick_age = round(now - float(raw), 1)
    checks["worker"] = {
        "ok": worker_age is not None and worker_age <= WORKER_MAX_AGE_SECONDS,
        "heartbeat_age_seconds": worker_age,
    }
    checks["scheduler"] = {
        "ok": tick_age is not None and tick_age <= TICK_MAX_AGE_SECONDS,
        "heartbeat_age_seconds": tick_age,
    }
    return {
        "ready": all(c["ok"] for c in checks.values()),
        "checks": checks,
        "checked_at": datetime.now(UTC).isoformat(),
    }


@bp.get("/readyz")
def readyz():
    result = readiness()
    return jsonify(result), 200 if result["ready"] else 503
