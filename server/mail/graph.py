"""Microsoft Graph client for the calls the sync uses: user, folders, message and calendar delta.

Retries 429/503 (Retry-After, else exponential backoff with jitter), connection errors and
timeouts; a lost delta state (410 / syncStateNotFound) raises `DeltaStateLost` so the caller
re-reads the window. At most 4 requests are in flight per mailbox, in this process.
"""

from __future__ import annotations

import threading
import time
from dataclasses import dataclass

import requests

from .base import Event, Message
from .graph_batch import BatchCalls
from .graph_delta import (
    EVENT_PREFER,
    FILTER_BELOW_TOTAL,
    FILTERED_DELTA_CAP,
    MESSAGE_FIELDS,
    MESSAGE_PREFER,
    DeltaCalls,
    DeltaPage,
    calendar_window,
    parse_message_page,
)
from .graph_errors import (
    DeltaStateLost,
    FolderNotFound,
    GraphAuthError,
    GraphError,
    GraphUnavailable,
    MailboxOutOfScope,
    backoff_delay,
    decode_json,
    error_of,
    is_delta_state_lost,
    retry_after_seconds,
)
from .graph_events import SeriesMasters
from .graph_folders import Folder, FolderCalls

RETRY_STATUSES = {429, 500, 502, 503, 504}
MAX_IN_FLIGHT_PER_MAILBOX = 4

_limits_lock = threading.Lock()
_mailbox_limits: dict[str, threading.BoundedSemaphore] = {}


def mailbox_semaphore(mailbox: str) -> threading.BoundedSemaphore:
    """One semaphore per mailbox, shared by every client in this process."""
    with _limits_lock:
        sem = _mailbox_limits.get(mailbox)
        if sem is None:
            sem = _mailbox_limits[mailbox] = threading.BoundedSemaphore(MAX_IN_FLIGHT_PER_MAILBOX)
        return sem


@dataclass
class GraphStats:
    requests: int = 0
    retries: int = 0


class GraphClient(FolderCalls, BatchCalls, DeltaCalls):
    def __init__(
        self,
        base_url: str,
        token: str,
        mailbox: str,
        *,
        session: requests.Session | None = None,
        timeout: float = 20.0,
        page_size: int = 100,
        max_retries: int = 6,
        backoff_base: float = 0.5,
        max_wait: float = 30.0,
    ):
        self.base_url = base_url.rstrip("/")
        self.mailbox = mailbox
        self.token = token
        self.timeout = timeout
        self.page_size = page_size
        self.max_retries = max_retries
        self.backoff_base = backoff_base
        self.max_wait = max_wait
        self.stats = GraphStats()
        self._session = session or _default_session()
        self._sem = mailbox_semaphore(mailbox)
        self.series_masters = SeriesMasters(self._events_json)

    # --- transport ---------------------------------------------------------------------

    def _headers(self, extra_prefer: tuple[str, ...] = ()) -> dict[str, str]:
        prefer = [f"odata.maxpagesize={self.page_size}", 'IdType="ImmutableId"', *extra_prefer]
        return {
            "Authorization": f"Bearer {self.token}",
            "Accept": "application/json",
            "Prefer": ", ".join(prefer),
        }

    def get(self, url: str, prefer: tuple[str, ...] = ()) -> dict:
        """GET a Graph URL (absolute, or relative to the base) with retries; JSON object."""
        return self.send("GET", url, prefer=prefer)

    def send(
        self, method: str, url: str, body: dict | None = None, prefer: tuple[str, ...] = ()
    ) -> dict:
        """One Graph call with timeouts and retries; the JSON object answered ({} for 204)."""
        if not url.startswith(("http://", "https://")):
            url = f"{self.base_url}/{url.lstrip('/')}"
        attempt = 0
        while True:
            try:
                with self._sem:
                    self.stats.requests += 1
                    response = self._session.request(
                        method, url, json=body, headers=self._headers(prefer), timeout=self.timeout
                    )
            except (requests.ConnectionError, requests.Timeout) as exc:
                attempt = self._before_retry(attempt, None, f"connection: {type(exc).__name__}")
                continue
            if response.status_code == 204:
                return {}
            if response.status_code < 300:
                return decode_json(response)
            code, message = error_of(response)
            if is_delta_state_lost(response.status_code, code):
                raise DeltaStateLost(message or "delta state lost", response.status_code, code)
            if response.status_code in (401, 403):
                raise GraphAuthError(message or "unauthorized", response.status_code, code)
            if response.status_code == 404:
                raise FolderNotFound(message or "not found", 404, code)
            if response.status_code in RETRY_STATUSES:
                attempt = self._before_retry(attempt, response, f"{response.status_code} {code}")
                continue
            raise GraphError(message or f"HTTP {response.status_code}", response.status_code, code)

    def _before_retry(self, attempt: int, response: requests.Response | None, why: str) -> int:
        """Sleep before the next attempt, or give up with GraphUnavailable."""
        wait = retry_after_seconds(response) if response is not None else None
        if wait is None:
            wait = backoff_delay(attempt, self.backoff_base)
        if attempt >= self.max_retries or wait > self.max_wait:
            status = response.status_code if response is not None else 0
            raise GraphUnavailable(
                f"giving up after {attempt + 1} attempts: {why}", status, retry_after=wait
            )
        self.stats.retries += 1
        time.sleep(wait)
        return attempt + 1


def _default_session() -> requests.Session:
    from ..http import make_http_session

    return make_http_session(service="graph")


__all__ = [
    "EVENT_PREFER",
    "FILTER_BELOW_TOTAL",
    "FILTERED_DELTA_CAP",
    "MESSAGE_FIELDS",
    "MESSAGE_PREFER",
    "DeltaPage",
    "DeltaStateLost",
    "Event",
    "Folder",
    "FolderNotFound",
    "GraphAuthError",
    "GraphClient",
    "GraphError",
    "GraphUnavailable",
    "MailboxOutOfScope",
    "Message",
    "calendar_window",
    "mailbox_semaphore",
    "parse_message_page",
]
