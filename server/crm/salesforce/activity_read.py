"""Reading activities back by our key: EmailMessage (+ relations), Task (+ TaskRelation),
Event (+ EventRelation), as neutral links. Pure shaping plus the SOQL statements to run."""

from __future__ import annotations

import hashlib
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from ..base import Link, RecordRef
from .records import SalesforceOptions, chunks, in_list, type_of_id

if TYPE_CHECKING:
    from .client import SalesforceClient

KEY_LIMIT = 255
CANCELLED_PREFIX = "Cancelled: "
# EmailMessageRelation.RelationType is a restricted picklist of exactly these four values
# (object reference, EmailMessageRelation): an Enhanced Email relates people only as its
# sender and recipients.
ROLE_OF_RELATION = {
    "FromAddress": "from",
    "ToAddress": "to",
    "CcAddress": "cc",
    "BccAddress": "bcc",
}
RELATION_OF_ROLE = {v: k for k, v in ROLE_OF_RELATION.items()}
KEYS_PER_STATEMENT = 100


def sf_key(key: str) -> str:
    """Our key as stored in a 255-character Salesforce field."""
    if len(key) <= KEY_LIMIT:
        return key
    return "sha256:" + hashlib.sha256(key.encode("utf-8", errors="replace")).hexdigest()


@dataclass
class Stored:
    """An activity as it is in Salesforce."""

    id: str
    key: str
    kind: str
    subject: str = ""
    what_id: str | None = None
    links: list[Link] = field(default_factory=list)
    cancelled: bool = False


def activity_statements(options: SalesforceOptions, kind: str, keys: list[str]) -> list[str]:
    """Per chunk of keys, three statements for one Composite call: the activities, their
    relations, and the accounts of the opportunities they relate to."""
    out: list[str] = []
    for part in chunks(keys, KEYS_PER_STATEMENT):
        values = in_list(part)
        if kind == "email" and options.email_mode == "enhanced":
            k = options.email_key_field
            out.append(
                f"SELECT Id, {k}, Subject, RelatedToId FROM EmailMessage WHERE {k} IN {values}"
            )
            out.append(
                "SELECT EmailMessageId, RelationId, RelationType FROM EmailMessageRelation "
                f"WHERE EmailMessage.{k} IN {values}"
            )
            what = f"SELECT RelatedToId FROM EmailMessage WHERE {k} IN {values}"
        elif kind == "email":
            k = options.activity_key_field
            out.append(f"SELECT Id, {k}, Subject, WhoId, WhatId FROM Task WHERE {k} IN {values}")
            out.append(
                f"SELECT TaskId, RelationId, IsWhat FROM TaskRelation WHERE Task.{k} IN {values}"
            )
            what = f"SELECT WhatId FROM Task WHERE {k} IN {values}"
        else:
            k = options.activity_key_field
            out.append(f"SELECT Id, {k}, Subject, WhatId FROM Event WHERE {k} IN {values}")
            out.append(
                "SELECT EventId, RelationId, IsInvitee FROM EventRelation "
                f"WHERE Event.{k} IN {values}"
            )
            what = f"SELECT WhatId FROM Event WHERE {k} IN {values}"
        out.append(f"SELECT Id, AccountId FROM Opportunity WHERE Id IN ({what})")
    return out


def opportunity_accounts_statement(opportunity_ids: list[str]) -> str | None:
    ids = sorted(set(opportunity_ids))
    return f"SELECT Id, AccountId FROM Opportunity WHERE Id IN {in_list(ids)}" if ids else None


def person_link(relation_id: str, role: str) -> Link | None:
    kind = type_of_id(relation_id)
    return Link(RecordRef(kind, relation_id), role) if kind in ("contact", "lead") else None


def what_links(what_id: str | None, opp_accounts: dict[str, str]) -> list[Link]:
    """The record an activity is related to; an opportunity brings its account along, as it
    does in Salesforce (its activities roll up to the account)."""
    kind = type_of_id(what_id or "")
    if kind not in ("account", "opportunity"):
        return []
    links = [Link(RecordRef(kind, what_id), "related")]
    if kind == "opportunity" and opp_accounts.get(what_id):
        links.append(Link(RecordRef("account", opp_accounts[what_id]), "related"))
    return links


def shape(
    options: SalesforceOptions, kind: str, results: list[list[dict]], opp_accounts: dict[str, str]
) -> dict[str, Stored]:
    """Rows of `activity_statements` (in order) → Stored by key."""
    opp_accounts = dict(opp_accounts)
    for index in range(2, len(results), 3):
        opp_accounts.update({row["Id"]: row.get("AccountId") for row in results[index]})
    stored: dict[str, Stored] = {}
    by_id: dict[str, Stored] = {}
    key_field = (
        options.email_key_field
        if kind == "email" and options.email_mode == "enhanced"
        else options.activity_key_field
    )
    for index in range(0, len(results), 3):
        for row in results[index]:
            subject = row.get("Subject") or ""
            cancelled = kind == "meeting" and subject.startswith(CANCELLED_PREFIX)
            item = Stored(
                id=row["Id"],
                key=row[key_field],
                kind=kind,
                subject=subject.removeprefix(CANCELLED_PREFIX) if cancelled else subject,
                what_id=row.get("RelatedToId") or row.get("WhatId"),
                cancelled=cancelled,
            )
            if row.get("WhoId"):
                item.links.append(person_link(row["WhoId"], "related"))
            stored.setdefault(item.key, item)
            by_id[item.id] = item
        for row in results[index + 1]:
            parent = by_id.get(
                row.get("EmailMessageId") or row.get("TaskId") or row.get("EventId") or ""
            )
            if parent is None or row.get("IsWhat"):
                continue
            if "RelationType" in row:
                role = ROLE_OF_RELATION.get(row["RelationType"], "related")
            elif "IsInvitee" in row:
                role = "attendee" if row["IsInvitee"] else "related"
            else:
                role = "related"
            link = person_link(row["RelationId"], role)
            if link is not None and link not in parent.links:
                parent.links.append(link)
    for item in stored.values():
        item.links = [link for link in item.links if link is not None]
        for link in what_links(item.what_id, opp_accounts):
            if link not in item.links:
                item.links.append(link)
    return stored


def fetch_stored(
    client: SalesforceClient,
    options: SalesforceOptions,
    kind: str,
    keys: list[str],
    opportunity_ids: list[str],
) -> tuple[dict[str, Stored], dict[str, str]]:
    """Stored activities by key and the accounts of opportunities: one Composite call."""
    statements = activity_statements(options, kind, keys)
    opp_statement = opportunity_accounts_statement(opportunity_ids)
    results = client.queries(statements + ([opp_statement] if opp_statement else []))
    opp_accounts = {row["Id"]: row.get("AccountId") for row in results[-1]} if opp_statement else {}
    rows = results[: len(statements)]
    # The opportunities the stored activities relate to, when not asked already.
    return shape(options, kind, rows, opp_accounts), opp_accounts
