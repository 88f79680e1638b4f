"""Completing activities that exist already: the person links they lack, and a meeting's
latest subject, times and cancellation. Idempotent; after an unknown outcome we look before
trying again."""

from __future__ import annotations

import time

from ..base import CRMUnavailable, CRMValidationError
from .activity_read import Stored, fetch_stored
from .client import WriteOutcomeUnknown, save_error
from .records import chunks
from .shapes import Plan, Spec

MAX_ROUNDS = 4
COLLECTION_SIZE = 200
RETRYABLE = {
    "UNABLE_TO_LOCK_ROW",
    "SERVER_UNAVAILABLE",
    "REQUEST_RUNNING_TOO_LONG",
    "PROCESSING_HALTED",
    "ALL_OR_NONE_OPERATION_ROLLED_BACK",
}


def ensure_links(
    client, options, kind, spec: Spec, plans: list[Plan], stored: dict[str, Stored]
) -> None:
    """Add the person links an activity lacks; after an unknown outcome, look before retrying."""
    for round_number in range(MAX_ROUNDS):
        missing = [
            (stored[p.key], link)
            for p in plans
            for link in spec.persons(p)
            if link not in stored[p.key].links
        ]
        if not missing:
            return
        retry = False
        for part in chunks(missing, COLLECTION_SIZE):
            records = [spec.relation(item.id, link) for item, link in part]
            body = {"allOrNone": False, "records": records}
            try:
                results = client.call(
                    lambda sf, b=body: sf.restful("composite/sobjects", method="POST", json=b),
                    write=True,
                )
            except WriteOutcomeUnknown:
                found, _ = fetch_stored(
                    client, options, kind, list({item.key for item, _ in part}), []
                )
                for key, fresh in found.items():
                    stored[key].links = fresh.links + [
                        x for x in stored[key].links if x not in fresh.links
                    ]
                retry = True
                continue
            for (item, link), result in zip(part, results, strict=True):
                code = save_error(result).get("statusCode")
                if result.get("success"):
                    item.links.append(link)
                elif code in RETRYABLE:
                    retry = True
                else:
                    raise CRMValidationError(
                        f"Salesforce refused a {spec.relation_sobject} ({code})"
                    )
        if retry:
            time.sleep(min(2.0, client.retry_base_ms / 1000 * (2**round_number)))
    raise CRMUnavailable("some activity links could not be written; they will be retried")


def update_meetings(client, spec: Spec, plans: list[Plan], stored: dict[str, Stored]) -> None:
    """A repeat of a meeting carries its latest subject, times and cancellation (idempotent)."""
    records = []
    for plan in plans:
        item = stored[plan.key]
        fields = spec.meeting_fields(plan.draft)
        if not item.what_id and plan.what_id:
            fields["WhatId"] = item.what_id = plan.what_id
        records.append({"attributes": {"type": "Event"}, "id": item.id, **fields})
        item.subject, item.cancelled = plan.draft.subject, plan.draft.cancelled
    for part in chunks(records, COLLECTION_SIZE):
        body = {"allOrNone": False, "records": part}
        for attempt in range(MAX_ROUNDS):
            try:
                results = client.call(
                    lambda sf, b=body: sf.restful("composite/sobjects", method="PATCH", json=b),
                    write=True,
                )
            except WriteOutcomeUnknown:
                time.sleep(client.retry_base_ms / 1000 * (2**attempt))
                continue
            failed = [r for r in results if not r.get("success")]
            if not failed:
                break
            body = {
                "allOrNone": False,
                "records": [
                    rec
                    for rec, r in zip(body["records"], results, strict=True)
                    if not r.get("success")
                ],
            }
        else:
            raise CRMUnavailable("meeting updates could not be written; they will be retried")
