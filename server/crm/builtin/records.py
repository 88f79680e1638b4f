"""Reads of the built-in CRM: accounts by domain, opportunities, records by id.

Plain functions over (session, org_id); every query is scoped by the organisation. People by
address are in people.py.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable
from datetime import date
from functools import cache

from sqlalchemy import bindparam, select
from sqlalchemy.orm import Session, aliased

from ...db import read_rows
from ..base import Account, Opportunity, Person, Record, RecordRef
from .models import (
    CrmAccount,
    CrmAccountDomain,
    CrmContact,
    CrmContactEmail,
    CrmLead,
    CrmOpportunity,
)

MAX_ID = 2**31 - 1  # Integer columns: larger ids cannot exist (and PostgreSQL would refuse them)


def record_id(value: object) -> int | None:
    """The integer id behind a record id string, or None when it cannot be one of ours."""
    text = str(value).strip()
    if not (text.isascii() and text.isdigit()) or len(text) > 10:
        return None
    number = int(text)
    return number if 0 < number <= MAX_ID else None


def record_ids(values: Iterable[object]) -> list[int]:
    return sorted({n for n in (record_id(v) for v in values) if n is not None})


def contact_person(row, emails: list[str]) -> Person:
    return Person(
        ref=RecordRef("contact", str(row.id)),
        name=row.name,
        emails=emails,
        owner_id=row.owner_id,
        title=row.title or "",
        account_id=str(row.account_id) if row.account_id is not None else None,
        account_name=row.account_name or "",
        last_activity_at=row.last_activity_at,
    )


def lead_person(row) -> Person:
    return Person(
        ref=RecordRef("lead", str(row.id)),
        name=row.name,
        emails=[row.email],
        owner_id=row.owner_id,
        company=row.company or "",
        status=row.status or "",
        last_activity_at=row.last_activity_at,
        extra={"converted": bool(getattr(row, "converted", False))},
    )


def accounts_by_domains(
    session: Session, org_id: int, domains: list[str]
) -> dict[str, list[Account]]:
    wanted = sorted({str(d).strip().lower().rstrip(".") for d in domains if d and str(d).strip()})
    if not wanted:
        return {}
    matched = aliased(CrmAccountDomain)
    every = aliased(CrmAccountDomain)
    rows = session.execute(
        select(matched.domain.label("matched"), CrmAccount, every.domain)
        .select_from(matched)
        .join(CrmAccount, CrmAccount.id == matched.account_id)
        .join(every, every.account_id == CrmAccount.id)
        .where(matched.org_id == org_id, matched.domain.in_(wanted))
        .order_by(CrmAccount.id, every.domain)
    ).all()
    accounts: dict[int, Account] = {}
    found: dict[str, list[Account]] = defaultdict(list)
    for matched_domain, account, domain in rows:
        record = accounts.get(account.id)
        if record is None:
            record = accounts[account.id] = _account(account, [])
        if domain not in record.domains:
            record.domains.append(domain)
        if record not in found[matched_domain]:
            found[matched_domain].append(record)
    return dict(found)


def _account(row: CrmAccount, domains: list[str]) -> Account:
    return Account(
        ref=RecordRef("account", str(row.id)),
        name=row.name,
        domains=domains,
        owner_id=row.owner_id,
        last_activity_at=row.last_activity_at,
    )


# What an Opportunity is read from, in _opportunity's order.
_OPPORTUNITY_COLUMNS = (
    CrmOpportunity.id,
    CrmOpportunity.name,
    CrmOpportunity.account_id,
    CrmOpportunity.owner_id,
    CrmOpportunity.stage,
    CrmOpportunity.is_closed,
    CrmOpportunity.amount,
    CrmOpportunity.close_date,
    CrmOpportunity.last_activity_at,
)


def _opportunity(row) -> Opportunity:
    """From a row of _OPPORTUNITY_COLUMNS, unpacked by position: reading a row's fields by
    name cost more than building the record (bench/pane.py)."""
    rid, name, account_id, owner_id, stage, is_closed, amount, close_date, at = row
    return Opportunity(
        ref=RecordRef("opportunity", str(rid)),
        name=name,
        account_id=str(account_id),
        owner_id=owner_id,
        stage=stage,
        is_closed=bool(is_closed),
        amount=amount,
        close_date=close_date,
        last_activity_at=at,
    )


@cache
def _opportunities_statement(by_owner: bool):
    """Built once with bind parameters and read as rows, not ORM objects: this runs for every
    suggestion and every card request."""
    query = select(*_OPPORTUNITY_COLUMNS).where(
        CrmOpportunity.org_id == bindparam("org_id"),
        CrmOpportunity.account_id.in_(bindparam("account_ids", expanding=True)),
    )
    if by_owner:
        query = query.where(CrmOpportunity.owner_id == bindparam("owner_id"))
    return query.order_by(CrmOpportunity.id)


def opportunities_of(
    session: Session, org_id: int, account_ids: list[str], owner_id: str | None = None
) -> list[Opportunity]:
    ids = record_ids(account_ids)
    if not ids:
        return []
    params: dict[str, object] = {"org_id": org_id, "account_ids": ids}
    if owner_id is not None:
        params["owner_id"] = owner_id
    rows = read_rows(session, _opportunities_statement(owner_id is not None), params)
    found = [_opportunity(row) for row in rows]
    # Open ones first, soonest to close first (the likeliest to be what an email is about),
    # then closed ones, most recently closed first.
    far = date.max.toordinal()
    found.sort(
        key=lambda o: (
            o.is_closed,
            (far - o.close_date.toordinal() if o.is_closed else o.close_date.toordinal())
            if o.close_date
            else far,
        )
    )
    return found


def contacts_without_addresses(session: Session, org_id: int, ids: list[int]) -> dict[int, Person]:
    """The contacts with their account's name, in one query; their addresses are not read."""
    if not ids:
        return {}
    rows = session.execute(
        select(
            CrmContact.id,
            CrmContact.name,
            CrmContact.title,
            CrmContact.account_id,
            CrmAccount.name.label("account_name"),
            CrmContact.owner_id,
            CrmContact.last_activity_at,
        )
        .outerjoin(CrmAccount, CrmAccount.id == CrmContact.account_id)
        .where(CrmContact.org_id == org_id, CrmContact.id.in_(ids))
    ).all()
    return {row.id: contact_person(row, []) for row in rows}


def contacts_by_ids(session: Session, org_id: int, ids: list[int]) -> dict[int, Person]:
    people = contacts_without_addresses(session, org_id, ids)
    if not people:
        return {}
    emails = session.execute(
        select(CrmContactEmail.contact_id, CrmContactEmail.email)
        .where(CrmContactEmail.org_id == org_id, CrmContactEmail.contact_id.in_(list(people)))
        .order_by(CrmContactEmail.email)
    ).all()
    for contact_id, email in emails:
        people[contact_id].emails.append(email)
    return people


def get_records(session: Session, org_id: int, refs: list[RecordRef]) -> dict[RecordRef, Record]:
    wanted: dict[str, list[int]] = defaultdict(list)
    for ref in refs:
        number = record_id(ref.id)
        if number is not None:
            wanted[ref.type].append(number)
    found: dict[RecordRef, Record] = {}
    for contact_id, person in contacts_by_ids(session, org_id, wanted["contact"]).items():
        found[RecordRef("contact", str(contact_id))] = person
    if wanted["lead"]:
        for row in session.scalars(
            select(CrmLead).where(CrmLead.org_id == org_id, CrmLead.id.in_(wanted["lead"]))
        ):
            found[RecordRef("lead", str(row.id))] = lead_person(row)
    if wanted["account"]:
        rows = session.execute(
            select(CrmAccount, CrmAccountDomain.domain)
            .outerjoin(CrmAccountDomain, CrmAccountDomain.account_id == CrmAccount.id)
            .where(CrmAccount.org_id == org_id, CrmAccount.id.in_(wanted["account"]))
            .order_by(CrmAccount.id, CrmAccountDomain.domain)
        ).all()
        for account, domain in rows:
            ref = RecordRef("account", str(account.id))
            record = found.setdefault(ref, _account(account, []))
            if domain is not None:
                record.domains.append(domain)  # type: ignore[union-attr]
    if wanted["opportunity"]:
        for row in session.execute(
            select(*_OPPORTUNITY_COLUMNS).where(
                CrmOpportunity.org_id == org_id, CrmOpportunity.id.in_(wanted["opportunity"])
            )
        ):
            opportunity = _opportunity(row)
            found[opportunity.ref] = opportunity
    return found


def existing_refs(session: Session, org_id: int, refs: Iterable[RecordRef]) -> set[RecordRef]:
    """Which of these refs exist in the organisation (ids only, one query per type)."""
    tables = {
        "contact": CrmContact,
        "lead": CrmLead,
        "account": CrmAccount,
        "opportunity": CrmOpportunity,
    }
    wanted: dict[str, list[int]] = defaultdict(list)
    for ref in refs:
        number = record_id(ref.id)
        if number is not None and ref.type in tables:
            wanted[ref.type].append(number)
    present: set[RecordRef] = set()
    for kind, ids in wanted.items():
        table = tables[kind]
        # By primary key, the organisation compared here: with "org_id = ? AND id IN (...)"
        # SQLite walks every row of the organisation through an (org_id, ...) index.
        rows = session.execute(select(table.id, table.org_id).where(table.id.in_(ids)))
        for found_id, found_org in rows:
            if found_org == org_id:
                present.add(RecordRef(kind, str(found_id)))  # type: ignore[arg-type]
    return present
