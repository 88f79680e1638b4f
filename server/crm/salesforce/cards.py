"""Record cards from Salesforce: the SOQL for every person of an email at once (at most five
statements, so one Composite call with the default Enhanced Email; `client.queries` batches
them) and the pure shaping of the answers into neutral cards.

Relationships used are the real API's (object reference): Contact.Owner / Lead.Owner (the
polymorphic owner, User or Queue, both have Name), Contact.Account, Opportunity.AccountId
with a semi-join on Contact.AccountId, EmailMessageRelation.EmailMessage (RelationId = the
person), TaskRelation.Task and Task.WhoId (the Task mode), EventRelation.Event.
Semi-joins: https://developer.salesforce.com/docs/atlas.en-us.soql_sosl.meta/soql_sosl/sforce_api_calls_soql_select_comparisonoperators.htm
Record page URL (Lightning "Record Page" type, /lightning/r/{objectApiName}/{recordId}/view):
https://developer.salesforce.com/docs/atlas.en-us.lightning.meta/lightning/components_navigation_page_definitions.htm

Limit: SOQL has no "n per parent" in a flat query, so each activity statement asks for the
newest `recent × people × 4` rows (at most 2,000) and the cards keep `recent` each; a person
whose activity is older than many others' can show fewer than `recent` on a very busy email.
"""

from __future__ import annotations

from collections import defaultdict
from datetime import date, datetime
from typing import Any

from ..base import ActivitySummary, Opportunity, PersonCard, RecordRef
from .records import OPPORTUNITY_FIELDS, SalesforceOptions, in_list, opportunity_from, valid_id

MAX_ROWS = 2_000


def statements(
    options: SalesforceOptions, refs: list[RecordRef], recent: int
) -> list[tuple[str, str]]:
    """(what, SOQL) to run in one batch for these contacts and leads."""
    contacts = sorted({r.id for r in refs if r.type == "contact" and valid_id(r.id, "contact")})
    leads = sorted({r.id for r in refs if r.type == "lead" and valid_id(r.id, "lead")})
    people = contacts + leads
    if not people:
        return []
    limit = min(MAX_ROWS, max(1, recent) * len(people) * 4)
    ids = in_list(people)
    out: list[tuple[str, str]] = []
    if contacts:
        out.append(
            (
                "contacts",
                "SELECT Id, Name, OwnerId, Owner.Name, AccountId, Account.Name, "
                f"LastActivityDate FROM Contact WHERE Id IN {in_list(contacts)}",
            )
        )
        out.append(
            (
                "opportunities",
                f"SELECT {', '.join(OPPORTUNITY_FIELDS)} FROM Opportunity WHERE AccountId "
                f"IN (SELECT AccountId FROM Contact WHERE Id IN {in_list(contacts)})",
            )
        )
    if leads:
        out.append(
            (
                "leads",
                "SELECT Id, Name, Company, OwnerId, Owner.Name, LastActivityDate FROM Lead "
                f"WHERE Id IN {in_list(leads)}",
            )
        )
    if options.email_mode == "enhanced":
        out.append(
            (
                "emails",
                "SELECT RelationId, EmailMessageId, EmailMessage.Subject, "
                "EmailMessage.MessageDate FROM EmailMessageRelation "
                f"WHERE RelationId IN {ids} ORDER BY EmailMessage.MessageDate DESC LIMIT {limit}",
            )
        )
    else:
        # The Task's own WhoId, and the other people of a shared Task.
        out.append(
            (
                "tasks",
                f"SELECT Id, WhoId, Subject, ActivityDate FROM Task WHERE WhoId IN {ids} "
                f"ORDER BY ActivityDate DESC LIMIT {limit}",
            )
        )
        out.append(
            (
                "task_relations",
                "SELECT RelationId, TaskId, Task.Subject, Task.ActivityDate FROM TaskRelation "
                f"WHERE RelationId IN {ids} ORDER BY Task.ActivityDate DESC LIMIT {limit}",
            )
        )
    out.append(
        (
            "meetings",
            "SELECT RelationId, EventId, Event.Subject, Event.StartDateTime FROM EventRelation "
            f"WHERE RelationId IN {ids} ORDER BY Event.StartDateTime DESC LIMIT {limit}",
        )
    )
    return out


def _when(value: Any) -> datetime | date | None:
    if not isinstance(value, str) or not value:
        return None
    try:
        if len(value) == 10:
            return date.fromisoformat(value)
        return datetime.fromisoformat(value.replace("Z", "+00:00").replace("+0000", "+00:00"))
    except ValueError:
        return None


def _sort_key(value: datetime | date | None) -> str:
    return value.isoformat() if value is not None else ""


def _activities(answers: dict[str, list[dict]]) -> dict[str, list[ActivitySummary]]:
    """Activities per person id, each once, newest first."""
    found: dict[str, dict[str, ActivitySummary]] = defaultdict(dict)
    for row in answers.get("emails", []):
        parent = row.get("EmailMessage") or {}
        found[row["RelationId"]][row["EmailMessageId"]] = ActivitySummary(
            row["EmailMessageId"],
            "email",
            parent.get("Subject") or "",
            _when(parent.get("MessageDate")),
        )
    for row in answers.get("tasks", []):
        found[row["WhoId"]][row["Id"]] = ActivitySummary(
            row["Id"], "email", row.get("Subject") or "", _when(row.get("ActivityDate"))
        )
    for row in answers.get("task_relations", []):
        parent = row.get("Task") or {}
        found[row["RelationId"]][row["TaskId"]] = ActivitySummary(
            row["TaskId"], "email", parent.get("Subject") or "", _when(parent.get("ActivityDate"))
        )
    for row in answers.get("meetings", []):
        parent = row.get("Event") or {}
        found[row["RelationId"]][row["EventId"]] = ActivitySummary(
            row["EventId"],
            "meeting",
            parent.get("Subject") or "",
            _when(parent.get("StartDateTime")),
        )
    return {
        person: sorted(items.values(), key=lambda a: _sort_key(a.at), reverse=True)
        for person, items in found.items()
    }


def shape(
    answers: dict[str, list[dict]], recent: int, instance_url: str
) -> dict[RecordRef, PersonCard]:
    activities = _activities(answers)
    by_account: dict[str, list[Opportunity]] = defaultdict(list)
    for row in answers.get("opportunities", []):
        opportunity = opportunity_from(row)
        by_account[opportunity.account_id].append(opportunity)
    for opportunities in by_account.values():  # open first, soonest to close first
        opportunities.sort(key=lambda o: (o.is_closed, _sort_key(o.close_date) or "9999"))
    cards: dict[RecordRef, PersonCard] = {}
    for kind, sobject, rows in (
        ("contact", "Contact", answers.get("contacts", [])),
        ("lead", "Lead", answers.get("leads", [])),
    ):
        for row in rows:
            ref = RecordRef(kind, row["Id"])  # type: ignore[arg-type]
            latest = activities.get(row["Id"], [])[:recent]
            stamps = [_when(row.get("LastActivityDate")), latest[0].at if latest else None]
            known = [s for s in stamps if s is not None]
            account_id = row.get("AccountId")
            cards[ref] = PersonCard(
                ref=ref,
                name=row.get("Name") or "",
                owner_id=row.get("OwnerId"),
                owner_name=(row.get("Owner") or {}).get("Name") or "",
                account_id=account_id,
                account_name=(row.get("Account") or {}).get("Name") or row.get("Company") or "",
                last_activity_at=max(known, key=_sort_key) if known else None,
                recent=latest,
                opportunities=list(by_account.get(account_id or "", [])),
                url=f"{instance_url}/lightning/r/{sobject}/{row['Id']}/view",
            )
    return cards
