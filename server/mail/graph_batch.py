"""Graph JSON batching: up to 20 GET requests of one mailbox in one HTTP call.

Documented semantics (https://learn.microsoft.com/graph/json-batching, and "Throttling and
batching" in https://learn.microsoft.com/graph/throttling):
- POST {version root}/$batch with {"requests": [{id, method, url (relative), headers}]};
  at most 20 requests; the answer is {"responses": [{id, status, headers, body}]}, in any
  order (correlate by id), and 200 even when some requests failed.
- Each request is evaluated individually against throttling limits: a throttled one comes
  back 429 with its own Retry-After, and is retried (in a new batch) after the longest one.
  The SDKs do not retry batched requests; we do, within the client's retry budget.
Anything else that failed is handed back as None, so the caller makes that request on its
own, with the single-request path's full error handling (lost delta state, token refresh).
"""

from __future__ import annotations

import time
from dataclasses import dataclass

from .graph_errors import GraphError, backoff_delay

MAX_BATCH = 20
RETRY_IN_BATCH = {429, 503}


@dataclass(frozen=True)
class BatchGet:
    key: str
    url: str  # absolute, under the client's base URL
    prefer: tuple[str, ...] = ()


class BatchCalls:
    """Mixed into GraphClient (uses its base_url, send, _headers, _session, stats, limits)."""

    def batchable(self, url: str) -> bool:
        return url.startswith(self.base_url + "/")

    def get_batch(
        self, calls: list[BatchGet], gone: set[str] | None = None
    ) -> dict[str, dict | None]:
        """The JSON body of each GET by key; None for one that failed (make it alone).
        With `gone`, the keys answered 404 are added to it (a caller for whom 404 means
        "no longer exists" need not ask again)."""
        out: dict[str, dict | None] = {}
        for start in range(0, len(calls), MAX_BATCH):
            out.update(self._one_batch(calls[start : start + MAX_BATCH], gone))
        return out

    def _one_batch(self, calls: list[BatchGet], gone: set[str] | None) -> dict[str, dict | None]:
        results: dict[str, dict | None] = {c.key: None for c in calls}
        pending = {str(i): c for i, c in enumerate(calls)}
        attempt = 0
        while pending:
            answer = self.send("POST", "$batch", {"requests": self._requests(pending)})
            throttled: dict[str, BatchGet] = {}
            waits: list[float] = []
            answers: list[tuple[int, bool]] = []
            for item in answer.get("responses") or []:
                call = pending.get(str(item.get("id"))) if isinstance(item, dict) else None
                if call is None:
                    continue
                status = _status(item)
                answers.append((status, status in RETRY_IN_BATCH))
                body = item.get("body")
                if 200 <= status < 300 and isinstance(body, dict):
                    results[call.key] = body
                elif status == 404 and gone is not None:
                    gone.add(call.key)
                elif status in RETRY_IN_BATCH:
                    throttled[str(item["id"])] = call
                    waits.append(_retry_after(item))
            count = getattr(self._session, "count_answers", None)
            if count is not None:  # the batch's own answer is counted; its items here, at once
                count(answers)
            if not throttled or attempt >= self.max_retries:
                break
            wait = max(waits) if waits and max(waits) >= 0 else -1.0
            if wait < 0:
                wait = backoff_delay(attempt, self.backoff_base)
            if wait > self.max_wait:
                break  # left to the single requests, which give up the same way
            self.stats.retries += 1
            time.sleep(wait)
            attempt += 1
            pending = throttled
        return results

    def _requests(self, pending: dict[str, BatchGet]) -> list[dict]:
        requests = []
        for request_id, call in pending.items():
            headers = {
                k: v
                for k, v in self._headers(call.prefer).items()
                if k not in ("Authorization", "Accept")
            }
            relative = call.url[len(self.base_url) :]
            requests.append(
                {"id": request_id, "method": "GET", "url": relative, "headers": headers}
            )
        return requests


def _status(item: dict) -> int:
    try:
        return int(item.get("status", 0))
    except (TypeError, ValueError):
        return 0


def _retry_after(item: dict) -> float:
    """The item's own Retry-After (header names are not case-sensitive); -1 when absent."""
    headers = item.get("headers") if isinstance(item.get("headers"), dict) else {}
    for name, value in headers.items():
        if str(name).lower() == "retry-after":
            try:
                return max(0.0, float(value))
            except (TypeError, ValueError):
                return -1.0
    return -1.0


__all__ = ["MAX_BATCH", "BatchCalls", "BatchGet", "GraphError"]
