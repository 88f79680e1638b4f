"""CRM records from the pane: checking chosen ids, creating a contact or lead for an unknown
address, searching, remembering a pick. Always through `crm_for(user)`, so every adapter
behaves the same; ids another organisation owns are simply not found (404)."""

from __future__ import annotations

from typing import Any

from flask import current_app

from ..crm import crm_for
from ..crm.base import (
    CRM,
    Account,
    ContactDraft,
    CRMAuthError,
    CRMError,
    CRMNotFound,
    CRMUnavailable,
    CRMValidationError,
    LeadDraft,
    Opportunity,
    Person,
    Record,
    RecordRef,
    SearchHit,
)
from ..db import get_session
from ..errors import ApiError
from ..models.tenancy import User
from ..policy import remember_choice
from ..rules.domains import registrable_domain

MAX_SEARCH = 100
SEARCH_LIMIT = 20


def crm_error(exc: CRMError) -> ApiError:
    """The CRM error tree as the API's answers."""
    if isinstance(exc, CRMNotFound):
        return ApiError(404, "unknown_record", str(exc) or "No such record.")
    if isinstance(exc, CRMValidationError):
        return ApiError(400, "crm_refused", str(exc) or "The CRM refused the data.")
    if isinstance(exc, CRMAuthError):
        return ApiError(409, "crm_reauth", "Connect your CRM again to continue.")
    if isinstance(exc, CRMUnavailable):
        return ApiError(503, "crm_unavailable", "The CRM cannot be reached right now; try again.")
    return ApiError(502, "crm_error", "The CRM answered with an error.")


def record_json(ref: RecordRef, record: Record | None) -> dict[str, Any]:
    out: dict[str, Any] = {
        "ref": ref.as_dict(),
        "type": ref.type,
        "id": ref.id,
        "name": record.name if record is not None else "",
    }
    if isinstance(record, Person):
        out.update(
            title=record.title,
            company=record.company,
            account_id=record.account_id,
            account_name=record.account_name,
            emails=list(record.emails),
        )
    elif isinstance(record, Account):
        out.update(domains=list(record.domains))
    elif isinstance(record, Opportunity):
        out.update(
            stage=record.stage,
            is_closed=record.is_closed,
            amount=record.amount,
            account_id=record.account_id,
            close_date=record.close_date.isoformat() if record.close_date else None,
            currency=record.extra.get("currency") or current_app.config.get("CRM_CURRENCY", ""),
        )
    return out


def existing_records(crm: CRM, refs: list[RecordRef]) -> dict[RecordRef, Record]:
    """The records of `refs`, or 404 naming the first that does not exist here."""
    try:
        found = crm.get_records(refs)
    except CRMError as exc:
        get_session().rollback()
        raise crm_error(exc) from None
    missing = [r for r in refs if r not in found]
    if missing:
        raise ApiError(
            404,
            "unknown_record",
            f"No {missing[0].type} {missing[0].id} in your CRM.",
            record=missing[0].as_dict(),
        )
    return found


def guess_name(address: str, display: str = "") -> str:
    if display.strip() and "@" not in display:
        return " ".join(display.split())[:255]
    local = address.partition("@")[0]
    parts = [p for p in local.replace("_", ".").replace("-", ".").split(".") if p.isalpha()]
    return " ".join(p.capitalize() for p in parts) or local


def guess_company(address: str) -> str:
    domain = registrable_domain(address.rpartition("@")[2]) or ""
    label = domain.split(".")[0] if domain else ""
    return label.replace("-", " ").title()


def create_person(
    user: User,
    kind: str,
    name: str,
    email: str,
    company: str = "",
    title: str = "",
    account_id: str | None = None,
) -> dict[str, Any]:
    crm = crm_for(user)
    if account_id is not None:
        existing_records(crm, [RecordRef("account", account_id)])
    owner = crm.owner_id_for(user)
    session = get_session()
    try:
        if kind == "lead":
            person = crm.create_lead(
                LeadDraft(
                    name=name, email=email, owner_id=owner, company=company or guess_company(email)
                )
            )
        else:
            if account_id is None:
                account_id = _account_for_domain(crm, email)
            person = crm.create_contact(
                ContactDraft(
                    name=name,
                    email=email,
                    owner_id=owner,
                    title=title,
                    account_id=account_id,
                    company=company,  # the account of this name, or a new one
                )
            )
        session.commit()
    except CRMError as exc:
        session.rollback()
        raise crm_error(exc) from None
    # The new record becomes this address's pick, so the pane shows it linked at once.
    remember_choice(user, email, person.ref)
    return record_json(person.ref, person)


def _account_for_domain(crm: CRM, email: str) -> str | None:
    domain = registrable_domain(email.rpartition("@")[2]) or ""
    if not domain:
        return None
    accounts = crm.accounts_by_domains([domain]).get(domain, [])
    return accounts[0].ref.id if len(accounts) == 1 else None


def search_records(user: User, text: str) -> list[dict[str, Any]]:
    crm = crm_for(user)
    try:
        hits: list[SearchHit] = crm.search(text, limit=SEARCH_LIMIT)
    except CRMError as exc:
        get_session().rollback()
        raise crm_error(exc) from None
    return [{"ref": h.ref.as_dict(), "name": h.name, "subtitle": h.subtitle} for h in hits]


def remember_pick(user: User, address: str, ref: RecordRef) -> None:
    if ref.type not in ("contact", "lead", "account"):
        raise ApiError(400, "invalid_record_type", "remember a contact, lead or account")
    existing_records(crm_for(user), [ref])
    remember_choice(user, address, ref)
