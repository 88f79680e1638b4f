"""The sandbox Salesforce's sObject Collections and Composite resources (no Flask here).

Collections: up to 200 records, each succeeding or failing on its own (allOrNone false).
Composite: up to 25 subrequests (at most 5 queries or collections), later ones referring to
earlier results with @{referenceId.path}. With the `collate_seed` switch on and the request's
`collateSubrequests` not false (true by default from API 49.0), independent subrequests run
and answer in a seeded random order, as Salesforce allows: "the order of execution is not
guaranteed (unless there is an explicit dependency between the subrequests)"; clients must
match results by referenceId.
https://developer.salesforce.com/docs/platform/api-rest/guide/requests-composite.html
"""

from __future__ import annotations

import json
import random
import re
from typing import Any

from .salesforce_dml import delete
from .salesforce_rest import BASE, create, dispatch, update
from .salesforce_store import Org, SalesforceError, SalesforceState

COLLECTION_LIMIT = 200
COMPOSITE_LIMIT = 25
COMPOSITE_HEAVY_LIMIT = 5  # query and collection subrequests per Composite request


def _record_error(error: SalesforceError) -> dict[str, Any]:
    return {
        "success": False,
        "errors": [{"statusCode": error.code, "message": error.message, "fields": error.fields}],
    }


def collection(state: SalesforceState, org: Org, method: str, body: dict[str, Any]) -> list[dict]:
    records = body.get("records") or []
    if len(records) > COLLECTION_LIMIT:
        raise SalesforceError(
            400,
            "EXCEEDED_ID_LIMIT",
            f"record limit reached. cannot submit more than {COLLECTION_LIMIT} records "
            "into this call",
        )
    results: list[dict[str, Any]] = []
    for record in records:
        sobject = (record.get("attributes") or {}).get("type", "")
        try:
            if state.faults.failing_records > 0:
                state.faults.failing_records -= 1
                raise SalesforceError(
                    400, "UNABLE_TO_LOCK_ROW", "unable to obtain exclusive access to this record"
                )
            if method == "POST":
                results.append({"id": create(org, sobject, record), "success": True, "errors": []})
            else:
                record_id = record.get("id") or record.get("Id")
                update(org, sobject, record_id, record)
                results.append({"id": record_id, "success": True, "errors": []})
        except SalesforceError as error:
            results.append(_record_error(error))
    return results


def delete_collection(org: Org, ids: list[str]) -> list[dict]:
    """DELETE /composite/sobjects?ids=...: up to 200 records, each on its own (allOrNone
    false). https://developer.salesforce.com/docs/atlas.en-us.api_rest.meta/api_rest/resources_composite_sobjects_collections_delete.htm"""
    if len(ids) > COLLECTION_LIMIT:
        raise SalesforceError(
            400, "EXCEEDED_ID_LIMIT", f"cannot delete more than {COLLECTION_LIMIT} records"
        )
    results: list[dict[str, Any]] = []
    for record_id in ids:
        found = org.find(record_id)
        try:
            if found is None:
                raise SalesforceError(404, "ENTITY_IS_DELETED", "entity is deleted")
            delete(org, found[0], record_id)
            results.append({"id": record_id, "success": True, "errors": []})
        except SalesforceError as error:
            results.append({"id": record_id, **_record_error(error)})
    return results


_REFERENCE = re.compile(r"@\{([^}]+)\}")


def _resolve(path: str, answers: dict[str, Any]) -> Any:
    parts = re.findall(r"[^.\[\]]+|\[\d+\]", path)
    ref, rest = parts[0], parts[1:]
    if ref not in answers:
        raise KeyError(path)
    value = answers[ref]
    for part in rest:
        value = value[int(part[1:-1])] if part.startswith("[") else value[part]
    if value is None:
        raise KeyError(path)
    return value


def _substitute(value: Any, answers: dict[str, Any]) -> Any:
    if isinstance(value, str):
        whole = _REFERENCE.fullmatch(value)
        if whole:
            return _resolve(whole.group(1), answers)
        return _REFERENCE.sub(lambda m: str(_resolve(m.group(1), answers)), value)
    if isinstance(value, list):
        return [_substitute(v, answers) for v in value]
    if isinstance(value, dict):
        return {k: _substitute(v, answers) for k, v in value.items()}
    return value


def composite(state: SalesforceState, org: Org, body: dict[str, Any]) -> dict[str, Any]:
    from urllib.parse import parse_qs, urlsplit

    requests_ = body.get("compositeRequest") or []
    if len(requests_) > COMPOSITE_LIMIT:
        raise SalesforceError(
            400, "INVALID_API_INPUT", f"Limit of {COMPOSITE_LIMIT} subrequests exceeded"
        )
    heavy = sum(
        1
        for r in requests_
        if "/query" in r.get("url", "") or "/composite/sobjects" in r.get("url", "")
    )
    if heavy > COMPOSITE_HEAVY_LIMIT:
        raise SalesforceError(
            400,
            "INVALID_API_INPUT",
            f"Limit of {COMPOSITE_HEAVY_LIMIT} query or collection subrequests exceeded",
        )
    answers: dict[str, Any] = {}
    responses: list[dict[str, Any]] = []
    collate = body.get("collateSubrequests", True) is not False and state.faults.collate_seed
    if collate:
        rng = random.Random(f"{state.faults.collate_seed}:{state.api_calls}")
        requests_ = collated_order(requests_, rng)
    for sub in requests_:
        ref = sub.get("referenceId", "")
        try:
            url = _substitute(sub.get("url", ""), answers)
            sub_body = _substitute(sub.get("body"), answers)
        except (KeyError, IndexError, TypeError) as missing:
            responses.append(
                {
                    "body": [
                        {
                            "errorCode": "PROCESSING_HALTED",
                            "message": f"Invalid reference specified. "
                            f"No value for {missing} found.",
                        }
                    ],
                    "httpHeaders": {},
                    "httpStatusCode": 400,
                    "referenceId": ref,
                }
            )
            continue
        parts = urlsplit(url)
        if not parts.path.startswith(BASE + "/"):
            responses.append(
                {
                    "body": [{"errorCode": "NOT_FOUND", "message": f"unknown url {parts.path}"}],
                    "httpHeaders": {},
                    "httpStatusCode": 404,
                    "referenceId": ref,
                }
            )
            continue
        params = {k: v[0] for k, v in parse_qs(parts.query).items()}
        status, answer = dispatch(
            state,
            org,
            sub.get("method", "GET").upper(),
            parts.path[len(BASE) + 1 :],
            params,
            sub_body,
        )
        if status < 300:
            answers[ref] = answer
        headers = {}
        if status == 201 and isinstance(answer, dict) and answer.get("id"):
            # As documented for a created record: its URL in Location.
            headers["Location"] = f"{parts.path.rstrip('/')}/{answer['id']}"
        responses.append(
            {"body": answer, "httpHeaders": headers, "httpStatusCode": status, "referenceId": ref}
        )
    return {"compositeResponse": responses}


def collated_order(subrequests: list[dict[str, Any]], rng: random.Random) -> list[dict[str, Any]]:
    """A random order that still runs each subrequest after those it refers to."""
    names = {str(sub.get("referenceId", "")) for sub in subrequests}

    def needs(sub: dict[str, Any]) -> set[str]:
        text = json.dumps([sub.get("url", ""), sub.get("body")])
        return {m.split(".")[0].split("[")[0] for m in _REFERENCE.findall(text)} & names

    waiting = list(subrequests)
    done: set[str] = set()
    order: list[dict[str, Any]] = []
    while waiting:
        ready = [sub for sub in waiting if needs(sub) <= done] or waiting[:1]
        chosen = rng.choice(ready)
        waiting.remove(chosen)
        done.add(str(chosen.get("referenceId", "")))
        order.append(chosen)
    return order
