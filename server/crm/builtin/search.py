"""Text search over the built-in CRM: contacts, leads, accounts and opportunities.

A record matches when its name, one of its addresses, its company/account name or domain
contains the text (case-insensitive). Ranking: exact name, then name or address starting with
the text, then the rest; then contacts, leads, accounts, opportunities; then by name.
"""

from __future__ import annotations

from sqlalchemy import and_, case, exists, func, or_, select
from sqlalchemy.orm import Session

from ..base import RecordRef, SearchHit
from .models import (
    CrmAccount,
    CrmAccountDomain,
    CrmContact,
    CrmContactEmail,
    CrmLead,
    CrmOpportunity,
)

MAX_LIMIT = 200


def _escape(text: str) -> str:
    return text.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")


def _rank(name_column, text: str, prefix: str, *prefix_columns):
    lowered = func.lower(name_column)
    return case(
        (lowered == text, 0),
        (or_(lowered.like(prefix, escape="\\"), *prefix_columns), 1),
        else_=2,
    )


def search(session: Session, org_id: int, text: str, limit: int = 20) -> list[SearchHit]:
    needle = " ".join(str(text or "").split()).lower()
    limit = max(0, min(int(limit), MAX_LIMIT))
    if not needle or limit == 0:
        return []
    contains = f"%{_escape(needle)}%"
    prefix = f"{_escape(needle)}%"
    ranked: list[tuple[int, int, str, SearchHit]] = []

    def like(column, pattern=contains):
        return func.lower(column).like(pattern, escape="\\")

    def email_exists(pattern: str):
        return exists().where(
            CrmContactEmail.contact_id == CrmContact.id,
            CrmContactEmail.org_id == org_id,
            CrmContactEmail.email.like(pattern, escape="\\"),
        )

    first_email = (
        select(func.min(CrmContactEmail.email))
        .where(CrmContactEmail.contact_id == CrmContact.id)
        .scalar_subquery()
    )
    rank = _rank(CrmContact.name, needle, prefix, email_exists(prefix))
    rows = session.execute(
        select(CrmContact.id, CrmContact.name, CrmAccount.name, first_email, rank)
        .outerjoin(CrmAccount, CrmAccount.id == CrmContact.account_id)
        .where(
            CrmContact.org_id == org_id,
            or_(like(CrmContact.name), like(CrmAccount.name), email_exists(contains)),
        )
        .order_by(rank, CrmContact.name, CrmContact.id)
        .limit(limit)
    ).all()
    for contact_id, name, account_name, email, score in rows:
        subtitle = " · ".join(part for part in (email, account_name) if part)
        ranked.append(
            (score, 0, name, SearchHit(RecordRef("contact", str(contact_id)), name, subtitle))
        )

    rank = _rank(CrmLead.name, needle, prefix, CrmLead.email.like(prefix, escape="\\"))
    rows = session.execute(
        select(CrmLead.id, CrmLead.name, CrmLead.email, CrmLead.company, rank)
        .where(
            CrmLead.org_id == org_id,
            CrmLead.converted.is_(False),
            or_(
                like(CrmLead.name), CrmLead.email.like(contains, escape="\\"), like(CrmLead.company)
            ),
        )
        .order_by(rank, CrmLead.name, CrmLead.id)
        .limit(limit)
    ).all()
    for lead_id, name, email, company, score in rows:
        subtitle = " · ".join(part for part in ("Lead", email, company) if part)
        ranked.append((score, 1, name, SearchHit(RecordRef("lead", str(lead_id)), name, subtitle)))

    domain_match = exists().where(
        CrmAccountDomain.account_id == CrmAccount.id,
        CrmAccountDomain.org_id == org_id,
        CrmAccountDomain.domain.like(contains, escape="\\"),
    )
    first_domain = (
        select(func.min(CrmAccountDomain.domain))
        .where(CrmAccountDomain.account_id == CrmAccount.id)
        .scalar_subquery()
    )
    rank = _rank(CrmAccount.name, needle, prefix)
    rows = session.execute(
        select(CrmAccount.id, CrmAccount.name, first_domain, rank)
        .where(CrmAccount.org_id == org_id, or_(like(CrmAccount.name), domain_match))
        .order_by(rank, CrmAccount.name, CrmAccount.id)
        .limit(limit)
    ).all()
    for account_id, name, domain, score in rows:
        hit = SearchHit(RecordRef("account", str(account_id)), name, domain or "")
        ranked.append((score, 2, name, hit))

    rank = _rank(CrmOpportunity.name, needle, prefix)
    rows = session.execute(
        select(CrmOpportunity.id, CrmOpportunity.name, CrmOpportunity.stage, rank)
        .join(CrmAccount, and_(CrmAccount.id == CrmOpportunity.account_id))
        .where(
            CrmOpportunity.org_id == org_id,
            or_(like(CrmOpportunity.name), like(CrmAccount.name)),
        )
        .order_by(rank, CrmOpportunity.name, CrmOpportunity.id)
        .limit(limit)
    ).all()
    for opportunity_id, name, stage, score in rows:
        hit = SearchHit(RecordRef("opportunity", str(opportunity_id)), name, stage)
        ranked.append((score, 3, name, hit))

    ranked.sort(key=lambda item: (item[0], item[1], item[2].lower()))
    return [hit for *_, hit in ranked[:limit]]
