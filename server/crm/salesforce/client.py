"""The one place that talks HTTP to Salesforce: budget, refresh, retries, error mapping.

- Every response's `Sforce-Limit-Info` is read (a requests response hook, so errors count too);
  when an org's usage reaches SALESFORCE_BUDGET_PAUSE_PERCENT its writes pause for
  SALESFORCE_BUDGET_PAUSE_MINUTES, and REQUEST_LIMIT_EXCEEDED pauses it at once.
- 401 → refresh the access token once and retry; a refused refresh marks the connection
  "needs re-auth" (CRMAuthError).
- 5xx, timeouts and connection errors → exponential backoff honouring Retry-After, for reads.
  A write whose outcome is unknown is never blindly repeated: `WriteOutcomeUnknown` goes back
  to writes.py, which looks our keys up before trying again.
- Everything else maps onto the small CRM error tree of server/crm/base.py.
Queries, paging and `restful` are simple-salesforce's; long SOQL and several queries at once go
in one Composite request (one API call, no URI length limit).
"""

from __future__ import annotations

import logging
import random
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any, TypeVar
from urllib.parse import quote

import requests
from simple_salesforce import Salesforce
from simple_salesforce.exceptions import (
    SalesforceError,
    SalesforceExpiredSession,
    SalesforceMalformedRequest,
    SalesforceRefusedRequest,
    SalesforceResourceNotFound,
)

from ..base import CRMAuthError, CRMBudgetExceeded, CRMNotFound, CRMUnavailable, CRMValidationError

log = logging.getLogger(__name__)
T = TypeVar("T")
SAFE_URL_CHARS = 2_000  # Salesforce's recommended URI length; longer SOQL goes in a body
COMPOSITE_QUERIES = 5  # query or collection subrequests per Composite request


class WriteOutcomeUnknown(CRMUnavailable):
    """A write failed in a way that may have happened anyway (5xx after sending, timeout)."""


@dataclass
class Budget:
    """An org's API usage as Salesforce last reported it, and our pause decision."""

    pause_percent: int
    pause_minutes: int
    used: int | None = None
    limit: int | None = None
    paused_until: datetime | None = None
    reason: str = ""
    changed: bool = False

    def observe(self, header: str, now: datetime) -> None:
        usage = Salesforce.parse_api_usage(header).get("api-usage")
        if usage is None:
            return
        old_bucket = self.used * 100 // self.limit if self.used is not None and self.limit else -1
        self.used, self.limit = usage.used, usage.total
        # Persist usage when it moves a whole percent (not on every call).
        self.changed = self.changed or (
            usage.total > 0 and usage.used * 100 // usage.total != old_bucket
        )
        if usage.total and usage.used * 100 >= usage.total * self.pause_percent:
            self.pause(now, f"API usage {usage.used}/{usage.total} reached {self.pause_percent}%")

    def pause(self, now: datetime, reason: str) -> None:
        self.paused_until, self.reason, self.changed = (
            now + timedelta(minutes=self.pause_minutes),
            reason,
            True,
        )

    def check_writes(self, now: datetime) -> None:
        if self.paused_until is not None and self.paused_until > now:
            raise CRMBudgetExceeded(f"Salesforce writes paused: {self.reason}", self.paused_until)


def error_code(exc: SalesforceError) -> str:
    content = exc.content
    if isinstance(content, list) and content and isinstance(content[0], dict):
        return str(content[0].get("errorCode", ""))
    if isinstance(content, dict):
        return str(content.get("errorCode") or content.get("error") or "")
    return ""


def next_records_url(page: dict[str, Any]) -> str | None:
    """Where a query result's next batch is: `nextRecordsUrl` while `done` is false (Query
    resource, https://developer.salesforce.com/docs/platform/api-rest/guide/resources-query.html)."""
    return None if page.get("done", True) else str(page["nextRecordsUrl"])


def save_error(result: dict[str, Any]) -> dict[str, Any]:
    """A SaveResult's first error ({"statusCode", "message", "fields"}), {} on success.
    SaveResults come from sObject create and sObject Collections (in request order)."""
    if result.get("success"):
        return {}
    errors = result.get("errors") or []
    first = errors[0] if errors and isinstance(errors[0], dict) else {}
    return first or {"statusCode": "UNKNOWN_ERROR", "message": "", "fields": []}


class _ByReference(dict):
    """Composite results by referenceId; one Salesforce left out reads as a failed subrequest
    (an error we handle) rather than a KeyError."""

    def __missing__(self, reference: str) -> dict[str, Any]:
        return {
            "httpStatusCode": 500,
            "referenceId": reference,
            "body": [{"errorCode": "NO_SUBRESPONSE", "message": f"no result for {reference}"}],
        }


def soql_quote(value: str) -> str:
    return "'" + value.replace("\\", "\\\\").replace("'", "\\'") + "'"


class SalesforceClient:
    """One Salesforce login (instance URL + tokens) with our policies around every call."""

    def __init__(
        self,
        instance_url: str,
        access_token: str,
        http: requests.Session,
        budget: Budget,
        refresh: Callable[[str], str],  # given the refused token, returns a fresh one
        on_auth_failure: Callable[[str], None] | None = None,
        api_version: str = "60.0",
        max_retries: int = 3,
        retry_base_ms: int = 500,
    ):
        self.http, self.budget, self._refresh = http, budget, refresh
        self.instance_url = instance_url.rstrip("/")
        self._on_auth_failure = on_auth_failure or (lambda reason: None)
        self.max_retries, self.retry_base_ms = max_retries, retry_base_ms
        self.api_version = api_version
        self._last_response: requests.Response | None = None
        http.hooks.setdefault("response", []).append(self._on_response)
        self.sf = Salesforce(
            instance_url=instance_url, session_id=access_token, session=http, version=api_version
        )

    @property
    def base_path(self) -> str:
        return f"/services/data/v{self.api_version}"

    def _on_response(self, response: requests.Response, *args: Any, **kwargs: Any) -> None:
        self._last_response = response
        header = response.headers.get("Sforce-Limit-Info")
        if header:
            self.budget.observe(header, datetime.now(UTC))

    def _set_token(self, token: str) -> None:
        self.sf.session_id = token
        self.sf.headers["Authorization"] = "Bearer " + token

    def _backoff(self, attempt: int) -> None:
        retry_after = (
            self._last_response.headers.get("Retry-After")
            if self._last_response is not None
            else None
        )
        if retry_after and retry_after.isdigit():
            delay = float(retry_after)
        else:
            delay = self.retry_base_ms / 1000 * (2**attempt) * (1 + random.random() / 2)
        time.sleep(min(delay, 60.0))

    def call(self, operation: Callable[[Salesforce], T], *, write: bool = False) -> T:
        """Run one API operation under our policies. Writes are not retried on 5xx/timeouts."""
        if write:
            self.budget.check_writes(datetime.now(UTC))
        refreshed, attempt = False, 0
        while True:
            try:
                return operation(self.sf)
            except SalesforceExpiredSession:
                if refreshed:
                    self._on_auth_failure("INVALID_SESSION_ID after refresh")
                    raise CRMAuthError("Salesforce refused a freshly refreshed session") from None
                self._set_token(self._refresh(self.sf.session_id))
                refreshed = True
            except SalesforceRefusedRequest as exc:
                if error_code(exc) == "REQUEST_LIMIT_EXCEEDED":
                    self.budget.pause(
                        datetime.now(UTC), "Salesforce answered REQUEST_LIMIT_EXCEEDED"
                    )
                    raise CRMBudgetExceeded(
                        "Salesforce API limit exceeded", self.budget.paused_until
                    ) from None
                raise CRMValidationError(
                    f"Salesforce refused the request ({error_code(exc)})"
                ) from None
            except SalesforceResourceNotFound:
                raise CRMNotFound("no such Salesforce resource") from None
            except SalesforceMalformedRequest as exc:
                raise CRMValidationError(
                    f"Salesforce rejected the request ({error_code(exc)}): {exc.content}"
                ) from None
            except (SalesforceError, requests.Timeout, requests.ConnectionError) as exc:
                status = getattr(exc, "status", None)
                if status is not None and status < 500:
                    raise CRMValidationError(
                        f"Salesforce answered {status} ({error_code(exc)})"
                    ) from None
                if write:
                    raise WriteOutcomeUnknown(
                        f"Salesforce write outcome unknown ({status or type(exc).__name__})"
                    ) from None
                if attempt >= self.max_retries:
                    raise CRMUnavailable(
                        f"Salesforce unavailable ({status or type(exc).__name__})"
                    ) from None
                self._backoff(attempt)
                attempt += 1

    # --- reads -----------------------------------------------------------------------------

    def query_url(self, soql: str) -> str:
        # @{ref.field} stays readable: Composite substitutes references in subrequest URLs.
        return f"{self.base_path}/query?q={quote(soql, safe='@{}')}"

    def _more(self, first: dict[str, Any]) -> list[dict[str, Any]]:
        records, result = list(first["records"]), first
        while (next_url := next_records_url(result)) is not None:
            result = self.call(lambda sf, url=next_url: sf.query_more(url, identifier_is_url=True))
            records.extend(result["records"])
        return records

    def query(self, soql: str) -> list[dict[str, Any]]:
        return self.queries([soql])[0]

    def queries(self, statements: list[str]) -> list[list[dict[str, Any]]]:
        """Run SOQL statements with as few calls as possible: a short single one as a GET,
        otherwise up to five per Composite request; then follow nextRecordsUrl."""
        if not statements:
            return []
        if len(statements) == 1 and len(self.query_url(statements[0])) <= SAFE_URL_CHARS:
            soql = statements[0]
            return [self._more(self.call(lambda sf: sf.query(soql)))]
        results: list[list[dict[str, Any]]] = []
        for start in range(0, len(statements), COMPOSITE_QUERIES):
            chunk = statements[start : start + COMPOSITE_QUERIES]
            subrequests = [
                {"method": "GET", "url": self.query_url(s), "referenceId": f"q{i}"}
                for i, s in enumerate(chunk)
            ]
            answers = self.by_reference(self.composite(subrequests))
            for i in range(len(chunk)):
                results.append(self._more(self.subresult(answers[f"q{i}"])))
        return results

    def search(self, sosl: str) -> list[dict[str, Any]]:
        answer = self.call(lambda sf: sf.search(sosl))
        return list((answer or {}).get("searchRecords") or [])

    # --- composite and collections -------------------------------------------------------

    def composite(
        self, subrequests: list[dict[str, Any]], *, write: bool = False
    ) -> list[dict[str, Any]]:
        body = {"allOrNone": False, "compositeRequest": subrequests}
        answer = self.call(
            lambda sf: sf.restful("composite", method="POST", json=body), write=write
        )
        return list(answer["compositeResponse"])

    @staticmethod
    def by_reference(answers: list[dict[str, Any]]) -> dict[str, dict[str, Any]]:
        """Composite results by referenceId. With collateSubrequests (the default from API
        49.0) Salesforce may run independent subrequests in any order, and its docs say to
        associate results by referenceId: never by position.
        https://developer.salesforce.com/docs/platform/api-rest/guide/requests-composite.html
        """
        return _ByReference((str(a.get("referenceId")), a) for a in answers)

    @staticmethod
    def subresult(answer: dict[str, Any]) -> Any:
        """A Composite subrequest's body, or the error it stands for."""
        status = answer.get("httpStatusCode", 500)
        if status < 300:
            return answer.get("body")
        body = answer.get("body")
        code = (
            body[0].get("errorCode", "")
            if isinstance(body, list) and body and isinstance(body[0], dict)
            else ""
        )
        if status >= 500:
            raise CRMUnavailable(f"Salesforce subrequest failed ({status} {code})")
        raise CRMValidationError(f"Salesforce subrequest failed ({status} {code}): {body}")
