"""Persisting an org's Salesforce budget and email mode (SalesforceOrgState rows)."""

from __future__ import annotations

from datetime import UTC, datetime

from sqlalchemy import select
from sqlalchemy.exc import IntegrityError

from ...db import get_session, utcnow
from ...models.crm_connections import SalesforceOrgState
from .client import Budget
from .tokens import state_session


def _row(session, org_id: int, sf_org_id: str) -> SalesforceOrgState | None:
    return session.scalar(
        select(SalesforceOrgState).where(
            SalesforceOrgState.org_id == org_id, SalesforceOrgState.sf_org_id == sf_org_id
        )
    )


def load_budget(
    org_id: int, sf_org_id: str, pause_percent: int, pause_minutes: int
) -> tuple[Budget, str]:
    """The org's budget as last saved, and its email mode override ("" = the setting)."""
    with state_session() as session:
        row = _row(session, org_id, sf_org_id)
        budget = Budget(pause_percent, pause_minutes)
        if row is None:
            return budget, ""
        budget.used, budget.limit = row.api_used, row.api_limit
        budget.paused_until, budget.reason = row.paused_until, row.pause_reason
        return budget, row.email_mode


def save_budget(org_id: int, sf_org_id: str, budget: Budget) -> None:
    if not budget.changed:
        return
    with state_session() as session:
        row = _row(session, org_id, sf_org_id)
        if row is None:
            row = SalesforceOrgState(org_id=org_id, sf_org_id=sf_org_id)
            session.add(row)
        row.api_used, row.api_limit, row.usage_seen_at = budget.used, budget.limit, utcnow()
        if budget.paused_until is not None and budget.paused_until > datetime.now(UTC):
            row.paused_until, row.pause_reason = budget.paused_until, budget.reason
        try:
            session.commit()
        except IntegrityError:  # another worker created the row first; its numbers will do
            session.rollback()
    budget.changed = False


def set_email_mode(org_id: int, sf_org_id: str, mode: str) -> None:
    if mode not in ("", "enhanced", "task"):
        raise ValueError("email mode must be enhanced or task")
    session = get_session()
    row = _row(session, org_id, sf_org_id)
    if row is None:
        row = SalesforceOrgState(org_id=org_id, sf_org_id=sf_org_id)
        session.add(row)
    row.email_mode = mode
    session.commit()


def org_budget_status(org_id: int, sf_org_id: str) -> dict:
    row = _row(get_session(), org_id, sf_org_id)
    if row is None:
        return {"api_used": None, "api_limit": None, "paused": False}
    paused = row.paused_until is not None and row.paused_until > datetime.now(UTC)
    return {
        "api_used": row.api_used,
        "api_limit": row.api_limit,
        "paused": paused,
        "paused_until": row.paused_until.isoformat() if paused else None,
        "pause_reason": row.pause_reason if paused else "",
    }
