"""What the Overview page shows: users per sync state, items saved lately, the queues, the
scheduler, the CRM connection and budget pause, and warnings that need an admin."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import timedelta

from flask import current_app
from sqlalchemy import func, select

from ..db import get_session, utcnow
from ..health import readiness
from ..models.connections import MicrosoftConnection
from ..models.ledger import LedgerEntry
from ..models.tenancy import Organisation, User
from ..queues import all_queues
from .people import state_counts


@dataclass
class Overview:
    states: dict[str, int]
    saved_24h: int
    saved_7d: int
    queues: list[dict]
    readiness: dict
    crm: dict
    warnings: list[str] = field(default_factory=list)


def saved_since(org_id: int, hours: int) -> int:
    since = utcnow() - timedelta(hours=hours)
    return (
        get_session().scalar(
            select(func.count())
            .select_from(LedgerEntry)
            .where(
                LedgerEntry.org_id == org_id,
                LedgerEntry.status == "saved",
                LedgerEntry.updated_at >= since,
            )
        )
        or 0
    )


def queue_figures() -> list[dict]:
    out = []
    for queue in all_queues():
        out.append(
            {
                "name": queue.name,
                "queued": queue.count,
                "running": queue.started_job_registry.count,
                "failed": queue.failed_job_registry.count,
            }
        )
    return out


def crm_figures(org_id: int) -> dict:
    adapter = current_app.config["CRM_ADAPTER"]
    out: dict = {"adapter": adapter, "connected": None, "needs_reauth": 0, "paused": None}
    if adapter != "salesforce":
        return out
    from ..crm.salesforce.budget_store import org_budget_status
    from ..models.crm_connections import SalesforceConnection

    db = get_session()
    rows = list(
        db.scalars(select(SalesforceConnection).where(SalesforceConnection.org_id == org_id))
    )
    out["connected"] = len(rows)
    out["needs_reauth"] = sum(1 for r in rows if r.needs_reauth)
    for sf_org in sorted({r.sf_org_id for r in rows}):
        budget = org_budget_status(org_id, sf_org)
        if budget.get("paused"):
            out["paused"] = budget
    return out


def warnings_for(org: Organisation, crm: dict, ready: dict) -> list[str]:
    db = get_session()
    out = []
    if org.directory_refreshed_at is None:
        out.append(
            "The directory has not been read yet: grant admin consent (Deployment) and use "
            "“Refresh now” on Users."
        )
    reauth = db.scalar(
        select(func.count())
        .select_from(MicrosoftConnection)
        .join(User, User.id == MicrosoftConnection.user_id)
        .where(User.org_id == org.id, MicrosoftConnection.needs_reauth.is_(True))
    )
    if reauth:
        out.append(f"{reauth} user(s) must sign in to Microsoft again (their sync is stopped).")
    if org.sync_mode == "application" and org.app_grant_error:
        # Application mode: every in-scope mailbox waits for this (server/auth/app_tokens.py).
        out.append(
            f"Application grant missing: {org.app_grant_error[:200]} No mailbox is synced until "
            "an admin grants consent again or the certificate/secret is fixed."
        )
    if crm["needs_reauth"]:
        out.append(f"{crm['needs_reauth']} user(s) must reconnect the CRM.")
    if crm["paused"]:
        out.append(
            f"CRM writes are paused until {crm['paused']['paused_until']} "
            f"({crm['paused'].get('pause_reason') or 'API budget'})."
        )
    keys = current_app.config.get("ENCRYPTION_KEYS") or ()
    if not keys:
        out.append("No ENCRYPTION_KEYS configured: tokens are encrypted with a development key.")
    elif len(keys) > 1:
        out.append(
            "Key rotation in progress: several ENCRYPTION_KEYS are configured; remove the old "
            "ones once every stored token has been re-encrypted."
        )
    for name, check in ready["checks"].items():
        if not check["ok"]:
            out.append(f"{name} is not ready: see Deployment → Preflight.")
    return out


def overview(org: Organisation) -> Overview:
    crm = crm_figures(org.id)
    ready = readiness()
    return Overview(
        states=state_counts(org),
        saved_24h=saved_since(org.id, 24),
        saved_7d=saved_since(org.id, 24 * 7),
        queues=queue_figures(),
        readiness=ready,
        crm=crm,
        warnings=warnings_for(org, crm, ready),
    )
