"""Logging: one JSON object per line when LOG_JSON is on (production), with the request id or
the RQ job id on every line. Never log tokens, bodies or more addresses than an operator needs."""

from __future__ import annotations

import json
import logging
import secrets
from datetime import UTC, datetime

from flask import Flask, g, has_request_context, request

REQUEST_ID_HEADER = "X-Request-Id"


def _current_ids() -> dict[str, str]:
    ids: dict[str, str] = {}
    if has_request_context() and "request_id" in g:
        ids["request_id"] = g.request_id
    try:
        from rq import get_current_job

        job = get_current_job()
    except Exception:  # outside a worker there is no job
        job = None
    if job is not None:
        ids["job_id"] = job.id
    return ids


class JsonFormatter(logging.Formatter):
    def format(self, record: logging.LogRecord) -> str:
        entry = {
            "ts": datetime.fromtimestamp(record.created, UTC).isoformat(),
            "level": record.levelname,
            "logger": record.name,
            "message": record.getMessage(),
            **_current_ids(),
        }
        if record.exc_info:
            entry["exc"] = self.formatException(record.exc_info)
        return json.dumps(entry, ensure_ascii=False)


class IdsFilter(logging.Filter):
    def filter(self, record: logging.LogRecord) -> bool:
        ids = _current_ids()
        record.ids = " ".join(f"{k}={v}" for k, v in ids.items())
        return True


def configure(json_lines: bool) -> None:
    handler = logging.StreamHandler()
    handler.addFilter(IdsFilter())
    if json_lines:
        handler.setFormatter(JsonFormatter())
    else:
        handler.setFormatter(
            logging.Formatter("%(asctime)s %(levelname)s %(name)s %(ids)s %(message)s")
        )
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(logging.INFO)


def init_app(app: Flask) -> None:
    configure(app.config["LOG_JSON"])

    @app.before_request
    def _assign_request_id():
        incoming = request.headers.get(REQUEST_ID_HEADER, "")
        # Accept a caller's id only when it is short and plain, so it cannot forge log lines.
        valid = 0 < len(incoming) <= 64 and incoming.replace("-", "").isalnum()
        g.request_id = incoming if valid else secrets.token_hex(8)

    @app.after_request
    def _echo_request_id(response):
        if "request_id" in g:
            response.headers[REQUEST_ID_HEADER] = g.request_id
        return response
