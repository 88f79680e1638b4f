"""Record cards of the built-in CRM: people with their owners, latest activities and their
accounts' opportunities in three queries whatever the number of people.

The statements are built once with bind parameters (as people.py does for the look-up): on a
card request most of the time went into building and keying SQLAlchemy statements, not into
the database. bench/pane.py measures it.
"""

from __future__ import annotations

from collections import defaultdict
from functools import cache

from sqlalchemy import String, bindparam, cast, func, literal, null, select, union
from sqlalchemy.orm import Session

from ...models.tenancy import User
from ..base import ActivitySummary, PersonCard, RecordRef
from .models import CrmAccount, CrmActivity, CrmActivityLink, CrmContact, CrmLead
from .records import opportunities_of, record_ids

# The built-in CRM's record pages (crm/builtin/pages.py: /crm/<kind>/<id>).
RECORD_PAGE = "/crm/{kind}/{id}"


def person_cards(
    session: Session, org_id: int, refs: list[RecordRef], recent: int
) -> dict[RecordRef, PersonCard]:
    contact_ids = record_ids(r.id for r in refs if r.type == "contact")
    lead_ids = record_ids(r.id for r in refs if r.type == "lead")
    if not contact_ids and not lead_ids:
        return {}
    ids = {"org_id": org_id, "contact_ids": contact_ids, "lead_ids": lead_ids}
    people = session.execute(_people_statement(), ids).all()
    if not people:
        return {}
    latest: dict[tuple[str, int], list[ActivitySummary]] = defaultdict(list)
    if recent > 0:
        for kind, number, activity_id, activity_kind, subject, start in session.execute(
            _recent_statement(), {**ids, "limit": recent}
        ):
            latest[kind, number].append(
                ActivitySummary(str(activity_id), activity_kind, subject, start)
            )
    account_ids = sorted({str(row.account_id) for row in people if row.account_id is not None})
    by_account = defaultdict(list)
    for opportunity in opportunities_of(session, org_id, account_ids):
        by_account[opportunity.account_id].append(opportunity)
    cards: dict[RecordRef, PersonCard] = {}
    for row in people:
        ref = RecordRef(row.kind, str(row.id))
        activities = latest.get((row.kind, row.id), [])
        newest = activities[0].at if activities else None
        last = max((t for t in (row.last_activity_at, newest) if t is not None), default=None)
        account_id = str(row.account_id) if row.account_id is not None else None
        cards[ref] = PersonCard(
            ref=ref,
            name=row.name,
            owner_id=row.owner_id,
            owner_name=(row.owner_name or row.owner_email or "") if row.owner_id else "",
            account_id=account_id,
            account_name=row.account_name or "",
            last_activity_at=last,
            recent=activities,
            opportunities=by_account.get(account_id or "", []),
            url=RECORD_PAGE.format(kind=row.kind, id=row.id),
        )
    return cards


def _owner_join(owner_id):
    """Owner ids of the built-in CRM are Courier user ids as text: compared as text, so an id
    that is not a number matches no one instead of failing a cast on PostgreSQL."""
    return (User.org_id == bindparam("org_id")) & (cast(User.id, String) == owner_id)


@cache
def _people_statement():
    """The contacts (with their account's name) and the leads (their company in its place),
    each with the owner's name, in one UNION ALL; addresses are not read."""
    contacts = (
        select(
            literal("contact").label("kind"),
            CrmContact.id,
            CrmContact.name,
            CrmContact.account_id,
            CrmAccount.name.label("account_name"),
            CrmContact.owner_id,
            CrmContact.last_activity_at,
            User.display_name.label("owner_name"),
            User.email.label("owner_email"),
        )
        .outerjoin(CrmAccount, CrmAccount.id == CrmContact.account_id)
        .outerjoin(User, _owner_join(CrmContact.owner_id))
        .where(
            CrmContact.org_id == bindparam("org_id"),
            CrmContact.id.in_(bindparam("contact_ids", expanding=True)),
        )
    )
    leads = (
        select(
            literal("lead"),
            CrmLead.id,
            CrmLead.name,
            null(),
            CrmLead.company,
            CrmLead.owner_id,
            CrmLead.last_activity_at,
            User.display_name,
            User.email,
        )
        .outerjoin(User, _owner_join(CrmLead.owner_id))
        .where(
            CrmLead.org_id == bindparam("org_id"),
            CrmLead.id.in_(bindparam("lead_ids", expanding=True)),
        )
    )
    return contacts.union_all(leads)


@cache
def _recent_statement():
    """The `limit` newest activities of each person: one query, ranked per record by a window
    function (SQLite ≥ 3.25 and PostgreSQL both have row_number).

    The links are read per record type (a UNION, which also keeps one row per activity and
    record when the record is linked in several roles), so each part uses the whole
    (org_id, record_type, record_id) index; an OR of the two walked every link of the
    organisation in SQLite."""

    def links_of(kind: str, ids: str):
        return select(
            CrmActivityLink.record_type, CrmActivityLink.record_id, CrmActivityLink.activity_id
        ).where(
            CrmActivityLink.org_id == bindparam("org_id"),
            CrmActivityLink.record_type == kind,
            CrmActivityLink.record_id.in_(bindparam(ids, expanding=True)),
        )

    linked = union(links_of("contact", "contact_ids"), links_of("lead", "lead_ids")).subquery()
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
        .where(CrmActivity.org_id == bindparam("org_id"))
        .subquery()
    )
    return (
        select(
            ranked.c.record_type,
            ranked.c.record_id,
            ranked.c.id,
            ranked.c.kind,
            ranked.c.subject,
            ranked.c.start,
        )
        .where(ranked.c.rank <= bindparam("limit"))
        .order_by(ranked.c.record_type, ranked.c.record_id, ranked.c.rank)
    )
