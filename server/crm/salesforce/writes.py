"""Writing emails and meetings to Salesforce exactly once, in as few API calls as we can.

Per batch: (1) unless the key field is a unique external id, one Composite call looks our keys
up (with their relations, and the accounts of linked opportunities); (2) one Composite call per
200 new activities creates them with sObject Collections, their relation records chained with
`@{parents[i].id}`. Records that fail are retried alone; after an ambiguous failure (5xx,
timeout) the keys are looked up again before anything is re-sent, so nothing is written twice.
A key that exists already gets only its missing links (and, for a meeting, its new subject,
times and cancellation).
"""

from __future__ import annotations

import re
import time
from dataclasses import replace
from datetime import UTC, datetime
from typing import Any

from ..base import ActivityDraft, CRMUnavailable, CRMValidationError, Link, LoggedActivity
from .activity_read import Stored, fetch_stored, opportunity_accounts_statement, sf_key
from .client import SalesforceClient, WriteOutcomeUnknown, save_error
from .existing import COLLECTION_SIZE, MAX_ROUNDS, RETRYABLE, ensure_links, update_meetings
from .records import SalesforceOptions, chunks
from .shapes import Plan, Spec, plans_of, spec_for

HEAVY_SUBREQUESTS = 5
_DUPLICATE_ID = re.compile(r"record with id: ([a-zA-Z0-9]{15,18})")


def log_emails(
    client: SalesforceClient, options: SalesforceOptions, drafts: list[ActivityDraft]
) -> list[LoggedActivity]:
    return _log(client, options, "email", drafts)


def log_meetings(
    client: SalesforceClient, options: SalesforceOptions, drafts: list[ActivityDraft]
) -> list[LoggedActivity]:
    return _log(client, options, "meeting", drafts)


def find_activities(
    client: SalesforceClient, options: SalesforceOptions, keys: list[str]
) -> dict[str, LoggedActivity]:
    wanted = {sf_key(k): k for k in keys or [] if k}
    found: dict[str, LoggedActivity] = {}
    if not wanted:
        return found
    for kind in ("email", "meeting"):
        stored, _ = fetch_stored(client, options, kind, list(wanted), [])
        for key, item in stored.items():
            if key in wanted and wanted[key] not in found:
                found[wanted[key]] = LoggedActivity(
                    item.id,
                    wanted[key],
                    kind,
                    False,
                    list(item.links),
                    subject=item.subject,
                    cancelled=item.cancelled,
                )
    return {k: found[k] for k in keys if k in found}


def _log(
    client: SalesforceClient, options: SalesforceOptions, kind: str, drafts: list[ActivityDraft]
) -> list[LoggedActivity]:
    if not drafts:
        return []
    client.budget.check_writes(datetime.now(UTC))  # before any lookup: a paused org costs nothing
    spec = spec_for(options, kind)
    # Roles Salesforce cannot keep are logged as it will give them back (the caller's drafts
    # stay untouched).
    drafts = [replace(d, links=_storable(spec, d.links)) for d in drafts]
    plans = plans_of(drafts)
    opp_ids = sorted(
        {link.ref.id for p in plans.values() for link in p.links if link.ref.type == "opportunity"}
    )
    unique_key = spec.key_field.endswith("__c")
    stored: dict[str, Stored] = {}
    opp_accounts: dict[str, str] = {}
    if kind == "meeting" or not unique_key:
        stored, opp_accounts = fetch_stored(client, options, kind, list(plans), opp_ids)
        opp_ids = []
    before = {key: list(item.links) for key, item in stored.items()}
    created = _create(
        client,
        options,
        kind,
        spec,
        [p for p in plans.values() if p.key not in stored],
        stored,
        opp_accounts,
        opp_ids,
    )
    existing = [p for p in plans.values() if p.key not in created]
    for plan in existing:
        before.setdefault(plan.key, list(stored[plan.key].links))
    if kind == "meeting":
        update_meetings(client, spec, existing, stored)
    ensure_links(client, options, kind, spec, [p for p in plans.values()], stored)
    return _results(drafts, plans, stored, created, before)


def duplicate_record_id(error: dict[str, Any]) -> str | None:
    """The record a DUPLICATE_VALUE error names (our key exists already), else None."""
    if error.get("statusCode") != "DUPLICATE_VALUE":
        return None
    found = _DUPLICATE_ID.search(error.get("message", ""))
    return found.group(1) if found else None


def _storable(spec: Spec, links: list[Link]) -> list[Link]:
    stored = (spec.stored_link(link) for link in links)
    return [link for link in stored if link is not None]


def _collection(name: str, records: list[dict[str, Any]], base: str) -> dict[str, Any]:
    return {
        "method": "POST",
        "url": f"{base}/composite/sobjects",
        "referenceId": name,
        "body": {"allOrNone": False, "records": records},
    }


def _create(
    client,
    options,
    kind,
    spec: Spec,
    pending: list[Plan],
    stored: dict[str, Stored],
    opp_accounts: dict[str, str],
    opp_ids: list[str],
) -> set[str]:
    """Create the activities of `pending` with their relations; returns the keys we created."""
    created: set[str] = set()
    duplicates: list[str] = []
    opp_statement = opportunity_accounts_statement(opp_ids)
    for round_number in range(MAX_ROUNDS):
        if not pending:
            break
        retry: list[Plan] = []
        for chunk in chunks(pending, COLLECTION_SIZE):
            subrequests = [
                _collection("parents", [spec.record(p) for p in chunk], client.base_path)
            ]
            relations = [
                (i, link)
                for i, p in enumerate(chunk)
                for link in spec.persons(p)
                if link not in spec.parent_links(p)
            ]
            room = HEAVY_SUBREQUESTS - 1 - (1 if opp_statement else 0)
            for j, part in enumerate(chunks(relations, COLLECTION_SIZE)[:room]):
                records = [spec.relation(f"@{{parents[{i}].id}}", link) for i, link in part]
                subrequests.append(_collection(f"rel{j}", records, client.base_path))
            if opp_statement:
                subrequests.append(
                    {"method": "GET", "url": client.query_url(opp_statement), "referenceId": "opps"}
                )
            try:
                answers = client.composite(subrequests, write=True)
            except WriteOutcomeUnknown:
                found, _ = fetch_stored(client, options, kind, [p.key for p in chunk], [])
                stored.update(found)
                created.update(p.key for p in chunk if p.key in found)
                retry.extend(p for p in chunk if p.key not in found)
                continue
            by_ref = client.by_reference(answers)
            if "opps" in by_ref:
                opp_accounts.update(
                    {
                        r["Id"]: r.get("AccountId")
                        for r in client.subresult(by_ref["opps"])["records"]
                    }
                )
                opp_statement = None
            results = client.subresult(by_ref["parents"])
            for plan, result in zip(chunk, results, strict=True):
                if result.get("success"):
                    stored[plan.key] = Stored(
                        result["id"],
                        plan.key,
                        kind,
                        plan.draft.subject,
                        plan.what_id,
                        list(spec.parent_links(plan)),
                        plan.draft.cancelled,
                    )
                    created.add(plan.key)
                    continue
                error = save_error(result)
                if duplicate_record_id(error):
                    duplicates.append(plan.key)
                elif error.get("statusCode") in RETRYABLE:
                    retry.append(plan)
                else:
                    raise CRMValidationError(
                        f"Salesforce refused {spec.sobject} {plan.key!r}: {error.get('statusCode')}"
                    )
            _record_relation_results(spec, chunk, relations, by_ref, stored)
        pending = retry
        if pending:
            time.sleep(min(2.0, client.retry_base_ms / 1000 * (2**round_number)))
    if pending:
        raise CRMUnavailable(
            f"{len(pending)} {spec.sobject} records could not be written; they will be retried"
        )
    if duplicates:  # written earlier (another worker, or a run that crashed before our ledger)
        found, _ = fetch_stored(client, options, kind, duplicates, [])
        stored.update(found)
    for item in stored.values():
        for link in _what_links(item, opp_accounts):
            if link not in item.links:
                item.links.append(link)
    return created


def _what_links(item: Stored, opp_accounts: dict[str, str]) -> list[Link]:
    from .activity_read import what_links

    return what_links(item.what_id, opp_accounts)


def _record_relation_results(
    spec: Spec,
    chunk: list[Plan],
    relations: list[tuple[int, Link]],
    by_ref: dict[str, Any],
    stored: dict[str, Stored],
) -> None:
    """Relations that landed become links; the rest are left for _ensure_links."""
    for j, part in enumerate(chunks(relations, COLLECTION_SIZE)):
        answer = by_ref.get(f"rel{j}")
        if answer is None or answer.get("httpStatusCode", 500) >= 300:
            continue
        for (i, link), result in zip(part, answer["body"], strict=True):
            item = stored.get(chunk[i].key)
            if result.get("success") and item is not None and link not in item.links:
                item.links.append(link)


def _results(
    drafts: list[ActivityDraft],
    plans: dict[str, Plan],
    stored: dict[str, Stored],
    created: set[str],
    before: dict[str, list[Link]],
) -> list[LoggedActivity]:
    """One result per draft, as if the drafts had been logged one after the other."""
    running: dict[str, list[Link]] = {}
    results = []
    for draft in drafts:
        key = sf_key(draft.key)
        item = stored[key]
        first = key not in running
        if first:
            running[key] = [] if key in created else list(before.get(key, []))
        asked = [link for link in plans[key].links if link in draft.links and link in item.links]
        added = [link for link in asked if link not in running[key]]
        running[key].extend(added)
        extras = [
            link for link in item.links if link not in plans[key].links and link not in running[key]
        ]
        results.append(
            LoggedActivity(
                id=item.id,
                key=draft.key,
                kind=item.kind,
                created=first and key in created,
                links=running[key] + extras,
                added_links=added,
                subject=draft.subject or item.subject,
                cancelled=item.cancelled,
            )
        )
    return results
