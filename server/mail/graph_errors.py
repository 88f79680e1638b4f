"""Graph errors (one small tree) and the HTTP helpers of retries: Retry-After, backoff with
jitter, error bodies, forgiving JSON decoding."""

from __future__ import annotations

import json
import random

import requests


class GraphError(Exception):
    def __init__(self, message: str, status: int = 0, code: str = ""):
        super().__init__(message)
        self.status = status
        self.code = code


class GraphAuthError(GraphError):
    """401/403: the token is refused; the user must sign in again (or consent)."""


class MailboxOutOfScope(GraphError):
    """403 to an app-only token that carries the permissions: the tenant keeps this mailbox
    out of the application's scope (an application access policy or RBAC for Applications;
    https://learn.microsoft.com/graph/auth-limit-mailbox-access, "Handling API errors":
    ErrorAccessDenied "Access to OData is disabled."). Not retried until the next safety poll
    or directory refresh."""


class GraphUnavailable(GraphError):
    """Throttled or failing after every retry; try again in a later session."""

    def __init__(self, message: str, status: int = 0, code: str = "", retry_after: float = 0.0):
        super().__init__(message, status, code)
        self.retry_after = retry_after


class DeltaStateLost(GraphError):
    """The delta token expired or was reset (410, syncStateNotFound): re-read the window."""


# Codes that mean "this delta/skip token is dead, start a full round again". The docs write
# `syncStateNotFound` and give the status only as "40X-series"; real bodies say
# `SyncStateNotFound` (on 410 in microsoftgraph/microsoft-graph-docs-contrib#7897 and #7975), so
# codes are compared without case, on any of the 40X statuses seen: 400, 404, 410.
# https://learn.microsoft.com/graph/delta-query-overview ("Synchronization reset")
LOST_STATE_CODES = frozenset({"syncstatenotfound", "resyncrequired"})
LOST_STATE_STATUSES = frozenset({400, 404, 410})


def is_delta_state_lost(status: int, code: str) -> bool:
    """Whether an error answer means the delta state is gone. A bare 410 Gone counts too: the
    docs' other reset signal (maintenance or migration) is a 410 whose Location restarts."""
    if status == 410:
        return True
    return status in LOST_STATE_STATUSES and code.strip().lower() in LOST_STATE_CODES


class FolderNotFound(GraphError):
    """404: the folder (or subscription, or item) does not exist."""


def retry_after_seconds(response: requests.Response) -> float | None:
    raw = response.headers.get("Retry-After", "").strip()
    try:
        return max(0.0, float(raw)) if raw else None
    except ValueError:
        return None


def backoff_delay(attempt: int, base: float, cap: float = 30.0) -> float:
    """Exponential backoff with full jitter."""
    return random.uniform(0, min(cap, base * (2**attempt)))


def decode_json(response: requests.Response) -> dict:
    # Decode ourselves so a non-UTF-8 byte cannot fail the whole page.
    try:
        data = json.loads(response.content.decode("utf-8", errors="replace"))
    except ValueError as exc:
        raise GraphUnavailable(f"invalid JSON from Graph: {exc}", response.status_code) from None
    return data if isinstance(data, dict) else {}


def error_of(response: requests.Response) -> tuple[str, str]:
    try:
        return error_fields(json.loads(response.content.decode("utf-8", errors="replace")))
    except ValueError:
        return "", ""


def error_fields(body: object) -> tuple[str, str]:
    """(code, message) of a Graph error body {"error": {"code", "message", "innerError"}}
    (https://learn.microsoft.com/graph/errors); empty strings for anything else."""
    error = body.get("error") if isinstance(body, dict) else None
    if not isinstance(error, dict):
        return "", ""
    return str(error.get("code", "")), str(error.get("message", ""))[:300]
