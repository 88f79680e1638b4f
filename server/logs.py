"""Logging: one JSON object per line when LOG_JSON is on (production), with the request id or
the RQ job id on every line. Never log tokens, bodies or more addresses than an operator needs."""

from __future__ import annotations

import json
import logging
import re
import secrets
from datetime import UTC, datetime
from typing import Any

from flask import Flask, g, has_request_context, request

REQUEST_ID_HEADER = "X-Request-Id"

# The attributes every LogRecord has; anything else on a record came from `extra=`.
_RECORD_ATTRS = frozenset(vars(logging.LogRecord("", 0, "", 0, "", None, None))) | {
    "message",
    "asctime",
    "ids",
}
# `extra` keys whose values are secrets: the OAuth authorization code and every token or
# password. Their value is replaced, whatever logged it.
SECRET_KEYS = frozenset(
    {
        "code",
        "token",
        "access_token",
        "refresh_token",
        "id_token",
        "client_secret",
        "password",
        "secret",
        "authorization",
        "cookie",
        "assertion",
        "client_assertion",
        "code_verifier",
    }
)
REDACTED = "[redacted]"
# The same secrets inside a message or a URL (`?code=...&state=...`, `"refresh_token": "..."`).
_SECRET_KEYS_RE = "|".join(sorted(SECRET_KEYS, key=len, reverse=True))
_SECRET_IN_TEXT = re.compile(
    rf"(?P<key>\b(?:{_SECRET_KEYS_RE}))(?P<sep>[\"']?\s*[=:]\s*[\"']?)(?P<value>[^&\s\"',;]+)",
    re.IGNORECASE,
)
_BEARER_IN_TEXT = re.compile(r"\b(Bearer)\s+[A-Za-z0-9._~+/=-]+", re.IGNORECASE)


def redact_text(text: str) -> str:
    text = _BEARER_IN_TEXT.sub(lambda m: f"{m[1]} {REDACTED}", text)
    return _SECRET_IN_TEXT.sub(lambda m: f"{m['key']}{m['sep']}{REDACTED}", text)


def _redact_value(key: str, value: Any) -> Any:
    if key.lower() in SECRET_KEYS:
        return REDACTED
    if isinstance(value, str):
        return redact_text(value)
    if isinstance(value, dict):
        return {str(k): _redact_value(str(k), v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_redact_value("", v) for v in value]
    return value


def extra_fields(record: logging.LogRecord) -> dict[str, Any]:
    """The `extra=` fields of a record, with secrets replaced."""
    return {
        key: _redact_value(key, value)
        for key, value in vars(record).items()
        if key not in _RECORD_ATTRS and not key.startswith("_")
    }


def _current_ids() -> dict[str, str]:
    ids: dict[str, str] = {}
    if has_request_context():
        # A request is never inside an RQ job: skip asking RQ (a third of a request line's
        # cost, and every request logs one line).
        if "request_id" in g:
            ids["request_id"] = g.request_id
        return ids
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
            **extra_fields(record),
            "ts": datetime.fromtimestamp(record.created, UTC).isoformat(),
            "level": record.levelname,
            "logger": record.name,
            "message": redact_text(record.getMessage()),
            **_current_ids(),
        }
        if record.exc_info:
            entry["exc"] = redact_text(self.formatException(record.exc_info))
        # default=str: an extra that JSON cannot hold (a datetime, a UUID) is still logged.
        return json.dumps(entry, ensure_ascii=False, default=str)


class TextFormatter(logging.Formatter):
    """Development lines: the ids, the message and the extras as key=value, secrets redacted."""

    def format(self, record: logging.LogRecord) -> str:
        line = redact_text(super().format(record))
        extras = extra_fields(record)
        if extras:
            line += " " + " ".join(f"{k}={v}" for k, v in extras.items())
        return line


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
            TextFormatter("%(asctime)s %(levelname)s %(name)s %(ids)s %(message)s")
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
