"""What the Overview page shows: users per sync state, items saved lately, the queues, the
scheduler, the CRM connection and budget pause, and warnings that need an admin."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta

from flask import current_app, url_for
from sqlalchemy import func, select

from ..auth.key_rotation import newest_key_age
from ..db import get_session, utcnow
from ..health import readiness
from ..models.connections import MicrosoftConnection
from ..models.ledger import LedgerEntry
from ..models.tenancy import Organisation, User
from ..queues import all_queues
from .consent_check import consent_status
from .people import state_counts


@dataclass
class Overview:
    states: dict[str, int]
    saved_24h: int
    saved_7d: int
    queues: list[dict]
    readiness: dict
    crm: dict
    warnings: list = field(default_factory=list)


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


def _when(iso: str | None) -> str:
    """An ISO time as people read it: 2026-11-30 18:52 UTC."""
    if not iso:
        return ""
    moment = datetime.fromisoformat(iso).astimezone(UTC)
    return moment.strftime("%Y-%m-%d %H:%M UTC")


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
            out["paused"] = {**budget, "until_text": _when(budget.get("paused_until"))}
    return out


@dataclass(frozen=True)
class Warning:
    text: str
    href: str = ""  # where to act on it
    kind: str = ""  # consent | key_rotation | microsoft_reauth | crm_reauth | ... (tests, CSS)

    @property
    def link_text(self) -> str:
        if "state=" in self.href:
            return "Show these users"
        if "users" in self.href:
            return "Open Users"
        return "Run the preflight" if "preflight" in self.href else "Open Deployment"


def warnings_for(org: Organisation, crm: dict, ready: dict) -> list[Warning]:
    db = get_session()
    out = []
    consent = consent_status(org)
    if consent["consented"] is False:
        out.append(
            Warning(
                "Admin consent is missing: Microsoft refused the directory permission "
                f"({consent['detail']}). Grant it on Deployment.",
                url_for("admin.deployment") + "#consent-h",
                "consent",
            )
        )
    if org.directory_refreshed_at is None:
        out.append(
            Warning(
                "The directory has not been read yet: use “Refresh now” on Users.",
                url_for("admin.users"),
                "directory",
            )
        )
    reauth = db.scalar(
        select(func.count())
        .select_from(MicrosoftConnection)
        .join(User, User.id == MicrosoftConnection.user_id)
        .where(User.org_id == org.id, MicrosoftConnection.needs_reauth.is_(True))
    )
    users_reauth = url_for("admin.users", state="needs_reauth")
    if reauth:
        out.append(
            Warning(
                f"{reauth} user(s) must sign in to Microsoft again (their sync is stopped).",
                users_reauth,
                "microsoft_reauth",
            )
        )
    if org.sync_mode == "application" and org.app_grant_error:
        # Application mode: every in-scope mailbox waits for this (server/auth/app_tokens.py).
        out.append(
            Warning(
                f"Application grant missing: {org.app_grant_error[:200]} No mailbox is synced "
                "until an admin grants consent again or the certificate/secret is fixed.",
                url_for("admin.sync_mode"),
                "app_grant",
            )
        )
    if crm["needs_reauth"]:
        out.append(
            Warning(
                f"{crm['needs_reauth']} user(s) must reconnect {crm['adapter'].capitalize()} "
                "(their sync is stopped).",
                users_reauth,
                "crm_reauth",
            )
        )
    if crm["paused"]:
        out.append(
            Warning(
                f"CRM writes are paused until {_when(crm['paused']['paused_until'])} "
                f"({crm['paused'].get('pause_reason') or 'API budget'}).",
                kind="crm_paused",
            )
        )
    out += _key_warnings()
    for name, check in ready["checks"].items():
        if not check["ok"]:
            out.append(
                Warning(
                    f"{name} is not ready: run the preflight checks.",
                    url_for("admin.deployment", preflight=1),
                    "not_ready",
                )
            )
    return out


def _key_warnings() -> list[Warning]:
    keys = current_app.config.get("ENCRYPTION_KEYS") or ()
    if not keys:
        return [
            Warning(
                "No ENCRYPTION_KEYS configured: tokens are encrypted with a development key.",
                kind="no_keys",
            )
        ]
    out = []
    age = newest_key_age()
    limit = current_app.config.get("ENCRYPTION_KEY_MAX_AGE_DAYS", 365)
    if age is not None and age.days >= limit:
        out.append(
            Warning(
                f"Key rotation due: the newest encryption key has been in use {age.days} days "
                f"(rotate every {limit} days: README, “Key rotation”).",
                kind="key_rotation",
            )
        )
    if len(keys) > 1:
        out.append(
            Warning(
                "Key rotation in progress: several ENCRYPTION_KEYS are configured; run "
                "`flask rotate-keys`, then remove the old ones.",
                kind="key_rotation_in_progress",
            )
        )
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
