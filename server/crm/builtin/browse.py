"""Queries behind the built-in CRM's web pages: paginated lists and a record's timeline.

Returns plain rows (tuples, dicts) for templates; every query is scoped by the organisation.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from sqlalchemy import exists, func, or_, select
from sqlalchemy.orm import Session

from ...models.tenancy import User
from .models import (
    CrmAccount,
    CrmAccountDomain,
    CrmActivity,
    CrmActivityLink,
    CrmContact,
    CrmContactEmail,
    CrmLead,
    CrmOpportunity,
)

PAGE_SIZE = 50
TIMELINE_LIMIT = 200
SORTS = ("name", "last_interaction")
TABLES: dict[str, Any] = {
    "account": CrmAccount,
    "contact": CrmContact,
    "lead": CrmLead,
    "opportunity": CrmOpportunity,
}


@dataclass
class Page:
    items: list[Any]
    total: int
    page: int
    pages: int


def _like(column, text: str):
    escaped = text.lower().replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")
    return func.lower(column).like(f"%{escaped}%", escape="\\")


def _filter(kind: str, org_id: int, text: str):
    """The text filter of each list: names, addresses, domains, companies."""
    if kind == "account":
        return or_(
            _like(CrmAccount.name, text),
            exists().where(
                CrmAccountDomain.account_id == CrmAccount.id,
                CrmAccountDomain.org_id == org_id,
                _like(CrmAccountDomain.domain, text),
            ),
        )
    if kind == "contact":
        return or_(
            _like(CrmContact.name, text),
            exists().where(
                CrmContactEmail.contact_id == CrmContact.id,
                CrmContactEmail.org_id == org_id,
                _like(CrmContactEmail.email, text),
            ),
        )
    if kind == "lead":
        return or_(
            _like(CrmLead.name, text), _like(CrmLead.email, text), _like(CrmLead.company, text)
        )
    return _like(CrmOpportunity.name, text)


def list_records(
    session: Session, org_id: int, kind: str, text: str = "", sort: str = "name", page: int = 1
) -> Page:
    table = TABLES[kind]
    where = [table.org_id == org_id]
    text = " ".join(text.split())
    if text:
        where.append(_filter(kind, org_id, text))
    total = session.scalar(select(func.count()).select_from(table).where(*where)) or 0
    pages = max(1, -(-total // PAGE_SIZE))
    page = min(max(1, page), pages)
    order = (
        [table.last_activity_at.desc().nulls_last(), table.name, table.id]
        if sort == "last_interaction"
        else [table.name, table.id]
    )
    items = list(
        session.scalars(
            select(table)
            .where(*where)
            .order_by(*order)
            .limit(PAGE_SIZE)
            .offset((page - 1) * PAGE_SIZE)
        )
    )
    return Page(items=items, total=total, page=page, pages=pages)


def owner_names(session: Session, org_id: int) -> dict[str, str]:
    """CRM owner id (the Courier user id as text) -> display name."""
    rows = session.execute(
        select(User.id, User.display_name, User.email).where(User.org_id == org_id)
    ).all()
    return {str(uid): name or email for uid, name, email in rows}


def account_names(session: Session, org_id: int, ids: set[int | None]) -> dict[int, str]:
    wanted = [i for i in ids if i is not None]
    if not wanted:
        return {}
    rows = session.execute(
        select(CrmAccount.id, CrmAccount.name).where(
            CrmAccount.org_id == org_id, CrmAccount.id.in_(wanted)
        )
    ).all()
    return dict(rows)


def domains_of(session: Session, org_id: int, account_ids: list[int]) -> dict[int, list[str]]:
    found: dict[int, list[str]] = {i: [] for i in account_ids}
    if account_ids:
        for account_id, domain in session.execute(
            select(CrmAccountDomain.account_id, CrmAccountDomain.domain)
            .where(CrmAccountDomain.org_id == org_id, CrmAccountDomain.account_id.in_(account_ids))
            .order_by(CrmAccountDomain.domain)
        ):
            found[account_id].append(domain)
    return found


def emails_of(session: Session, org_id: int, contact_ids: list[int]) -> dict[int, list[str]]:
    found: dict[int, list[str]] = {i: [] for i in contact_ids}
    if contact_ids:
        for contact_id, email in session.execute(
            select(CrmContactEmail.contact_id, CrmContactEmail.email)
            .where(CrmContactEmail.org_id == org_id, CrmContactEmail.contact_id.in_(contact_ids))
            .order_by(CrmContactEmail.id)
        ):
            found[contact_id].append(email)
    return found


def get_record(session: Session, org_id: int, kind: str, record_id: int):
    table = TABLES[kind]
    return session.scalar(select(table).where(table.org_id == org_id, table.id == record_id))


def related(session: Session, org_id: int, kind: str, record) -> dict[str, list]:
    """Records shown on a record page beside its timeline."""
    if kind == "account":
        contacts = session.scalars(
            select(CrmContact)
            .where(CrmContact.org_id == org_id, CrmContact.account_id == record.id)
            .order_by(CrmContact.name)
            .limit(PAGE_SIZE)
        ).all()
        opportunities = session.scalars(
            select(CrmOpportunity)
            .where(CrmOpportunity.org_id == org_id, CrmOpportunity.account_id == record.id)
            .order_by(CrmOpportunity.is_closed, CrmOpportunity.close_date.desc())
            .limit(PAGE_SIZE)
        ).all()
        return {"contacts": list(contacts), "opportunities": list(opportunities)}
    return {}


def timeline(session: Session, org_id: int, kind: str, record_id: int) -> list[dict]:
    """Emails and meetings linked to the record, newest first, each once with its roles."""
    rows = session.execute(
        select(CrmActivity, CrmActivityLink.role)
        .join(CrmActivityLink, CrmActivityLink.activity_id == CrmActivity.id)
        .where(
            CrmActivityLink.org_id == org_id,
            CrmActivityLink.record_type == kind,
            CrmActivityLink.record_id == record_id,
            CrmActivity.org_id == org_id,
        )
        .order_by(CrmActivity.start.desc(), CrmActivity.id.desc())
        .limit(TIMELINE_LIMIT * 4)
    ).all()
    entries: dict[int, dict] = {}
    for activity, role in rows:
        entry = entries.get(activity.id)
        if entry is None:
            if len(entries) >= TIMELINE_LIMIT:
                break
            entry = entries[activity.id] = {"activity": activity, "roles": []}
        if role not in entry["roles"]:
            entry["roles"].append(role)
    return list(entries.values())
