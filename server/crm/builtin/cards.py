"""Record cards of the built-in CRM: people, their owners, latest activities and their
accounts' opportunities in a fixed number of queries (five at most) whatever the number of people.
"""

from __future__ import annotations

from collections import defaultdict

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from ...models.tenancy import User
from ..base import ActivitySummary, Person, PersonCard, RecordRef
from .models import CrmActivity, CrmActivityLink, CrmLead
from .records import contacts_without_addresses, lead_person, opportunities_of, record_id

# The built-in CRM's record pages (crm/builtin/pages.py: /crm/<kind>/<id>).
RECORD_PAGE = "/crm/{kind}/{id}"


def person_cards(
    session: Session, org_id: int, refs: list[RecordRef], recent: int
) -> dict[RecordRef, PersonCard]:
    people = _people(session, org_id, refs)
    if not people:
        return {}
    latest = _recent(session, org_id, list(people), recent)
    account_ids = sorted({p.account_id for p in people.values() if p.account_id})
    by_account = defaultdict(list)
    for opportunity in opportunities_of(session, org_id, account_ids):
        by_account[opportunity.account_id].append(opportunity)
    owners = _owner_names(session, org_id, {p.owner_id for p in people.values()})
    cards: dict[RecordRef, PersonCard] = {}
    for ref, person in people.items():
        activities = latest.get(ref, [])
        newest = activities[0].at if activities else None
        last = max((t for t in (person.last_activity_at, newest) if t is not None), default=None)
        cards[ref] = PersonCard(
            ref=ref,
            name=person.name,
            owner_id=person.owner_id,
            owner_name=owners.get(person.owner_id or "", ""),
            account_id=person.account_id,
            account_name=person.account_name or person.company,
            last_activity_at=last,
            recent=activities,
            opportunities=by_account.get(person.account_id or "", []),
            url=RECORD_PAGE.format(kind=ref.type, id=ref.id),
        )
    return cards


def _people(session: Session, org_id: int, refs: list[RecordRef]) -> dict[RecordRef, Person]:
    """The contacts (with their account's name) and leads: a query per type, no addresses."""
    contact_ids = [n for r in refs if r.type == "contact" and (n := record_id(r.id)) is not None]
    lead_ids = [n for r in refs if r.type == "lead" and (n := record_id(r.id)) is not None]
    found: dict[RecordRef, Person] = {}
    for contact_id, person in contacts_without_addresses(session, org_id, contact_ids).items():
        found[RecordRef("contact", str(contact_id))] = person
    if lead_ids:
        for lead in session.scalars(
            select(CrmLead).where(CrmLead.org_id == org_id, CrmLead.id.in_(lead_ids))
        ):
            found[RecordRef("lead", str(lead.id))] = lead_person(lead)
    return found


def _recent(
    session: Session, org_id: int, refs: list[RecordRef], limit: int
) -> dict[RecordRef, list[ActivitySummary]]:
    """The `limit` newest activities of each record: one query, ranked per record by a window
    function (SQLite ≥ 3.25 and PostgreSQL both have row_number)."""
    wanted = defaultdict(list)
    for ref in refs:
        number = record_id(ref.id)
        if number is not None:
            wanted[ref.type].append(number)
    if not wanted or limit <= 0:
        return {}
    conditions = [
        (CrmActivityLink.record_type == kind) & CrmActivityLink.record_id.in_(ids)
        for kind, ids in wanted.items()
    ]
    where = conditions[0]
    for condition in conditions[1:]:
        where = where | condition
    # One row per (activity, record) even when the record is linked in several roles.
    linked = (
        select(
            CrmActivityLink.record_type,
            CrmActivityLink.record_id,
            CrmActivityLink.activity_id,
        )
        .where(CrmActivityLink.org_id == org_id, where)
        .distinct()
        .subquery()
    )
    rank = (
        func.row_number()
        .over(
            partition_by=(linked.c.record_type, linked.c.record_id),
            order_by=(CrmActivity.start.desc(), CrmActivity.id.desc()),
        )
        .label("rank")
    )
    ranked = (
        select(
            linked.c.record_type,
            linked.c.record_id,
            CrmActivity.id,
            CrmActivity.kind,
            CrmActivity.subject,
            CrmActivity.start,
            rank,
        )
        .join(CrmActivity, CrmActivity.id == linked.c.activity_id)
        .where(CrmActivity.org_id == org_id)
        .subquery()
    )
    rows = session.execute(
        select(ranked)
        .where(ranked.c.rank <= limit)
        .order_by(ranked.c.record_type, ranked.c.record_id, ranked.c.rank)
    ).all()
    out: dict[RecordRef, list[ActivitySummary]] = defaultdict(list)
    for row in rows:
        ref = RecordRef(row.record_type, str(row.record_id))
        out[ref].append(ActivitySummary(str(row.id), row.kind, row.subject, row.start))
    return out


def _owner_names(session: Session, org_id: int, owner_ids: set[str | None]) -> dict[str, str]:
    """Owner ids of the built-in CRM are Courier user ids (as text)."""
    ids = sorted({n for n in (record_id(o) for o in owner_ids if o) if n is not None})
    if not ids:
        return {}
    rows = session.execute(
        select(User.id, User.display_name, User.email).where(
            User.org_id == org_id, User.id.in_(ids)
        )
    ).all()
    return {str(uid): name or email for uid, name, email in rows}
