"""What health reads for a page of users, in a fixed number of queries: their recent
sessions, the last success of those with none recently, and the external CRM's status."""

from __future__ import annotations

from datetime import datetime, timedelta
from functools import cache

from flask import current_app
from sqlalchemy import bindparam, func, select

from ..db import get_session, read_rows
from ..models.sync import SyncSession
from ..models.tenancy import User

# Sessions health looks at: the last RECENT of the last RECENT_WINDOW (else the very last).
RECENT = 10
RECENT_WINDOW = timedelta(days=7)


# What the sync summary reads of a session (sync/summary): its columns alone, no ORM objects
# (a session's start and end refresh its user's summary, so this is on every session's path).
FACT_COLUMNS = (
    SyncSession.id,
    SyncSession.user_id,
    SyncSession.status,
    SyncSession.started_at,
    SyncSession.finished_at,
    SyncSession.error,
)


def recent_sessions(
    user_ids: list[int], now: datetime, facts_only: bool = False
) -> dict[int, list[SyncSession]]:
    """Up to RECENT sessions per user from the last RECENT_WINDOW (newest first); a user
    with none there gets their very last session. Two queries. `facts_only`: rows of
    FACT_COLUMNS (same attribute names) instead of SyncSession objects."""
    out: dict[int, list[SyncSession]] = {uid: [] for uid in user_ids}
    params = {"user_ids": list(user_ids), "since": now - RECENT_WINDOW}
    for row in _rows(_recent_statement(facts_only), params, facts_only):
        out[row.user_id].append(row)
    missing = [uid for uid, found in out.items() if not found]
    if missing:
        for row in _newest(missing, facts_only=facts_only):
            out[row.user_id].append(row)
    return out


# The statements below are built once, users and times bound at execution (as in
# policy/store): a session's start and end refresh its user's summary, and building them
# cost more CPU than running them on an idle session.


@cache
def _recent_statement(facts_only: bool):
    rank = (
        func.row_number()
        .over(
            partition_by=SyncSession.user_id,
            order_by=(SyncSession.started_at.desc(), SyncSession.id.desc()),
        )
        .label("rank")
    )
    ranked = (
        select(SyncSession.id, rank)
        .where(
            SyncSession.user_id.in_(bindparam("user_ids", expanding=True)),
            SyncSession.started_at >= bindparam("since"),
        )
        .subquery()
    )
    return (
        _select_sessions(facts_only)
        .join(ranked, ranked.c.id == SyncSession.id)
        .where(ranked.c.rank <= RECENT)
        .order_by(SyncSession.user_id, SyncSession.started_at.desc(), SyncSession.id.desc())
    )


def _select_sessions(facts_only: bool):
    if facts_only:
        return select(*FACT_COLUMNS)
    # Statuses are changed by UPDATE statements (sync/liveness): never trust the identity
    # map's copy of a session this process created.
    return select(SyncSession).execution_options(populate_existing=True)


def _rows(statement, params: dict, facts_only: bool) -> list:
    if facts_only:
        return list(read_rows(get_session(), statement, params))
    return list(get_session().scalars(statement, params))


# Sessions whose error health shows ("refused": the tenant refused the mailbox to the app).
FAILED_STATUSES = ("failed", "abandoned", "needs_reauth", "refused")


def consecutive_failures(sessions: list[SyncSession]) -> int:
    """Failed or abandoned sessions in a row, newest first. A CRM budget pause is the CRM
    asking us to wait, not a failure (it never stalls); a running one is not done yet."""
    failures = 0
    for s in sessions:
        if s.status in ("running", "paused"):
            continue
        if s.status not in ("failed", "abandoned"):
            break
        failures += 1
    return failures


def recent_success_at(sessions: list[SyncSession]) -> datetime | None:
    """When the newest success among `sessions` finished (else started)."""
    success = next((s for s in sessions if s.status == "succeeded"), None)
    return (success.finished_at or success.started_at) if success is not None else None


def _newest(
    user_ids: list[int], status: str | None = None, facts_only: bool = False
) -> list[SyncSession]:
    """Each user's newest session (of `status`, when given), in one query."""
    params = {"user_ids": list(user_ids)}
    if status is not None:
        params["status"] = status
    return _rows(_newest_statement(status is not None, facts_only), params, facts_only)


@cache
def _newest_statement(of_status: bool, facts_only: bool):
    query = select(SyncSession.user_id, func.max(SyncSession.id).label("id")).where(
        SyncSession.user_id.in_(bindparam("user_ids", expanding=True))
    )
    if of_status:
        query = query.where(SyncSession.status == bindparam("status"))
    newest = query.group_by(SyncSession.user_id).subquery()
    return _select_sessions(facts_only).join(newest, SyncSession.id == newest.c.id)


def older_successes(user_ids: list[int], facts_only: bool = False) -> dict[int, SyncSession]:
    """The last success of users whose recent sessions have none (one query)."""
    if not user_ids:
        return {}
    return {row.user_id: row for row in _newest(user_ids, "succeeded", facts_only)}


def crm_statuses(users: list[User]) -> dict[int, dict]:
    """The external CRM's connection per user as health needs it (empty for the built-in
    CRM): name, connected, needs_reauth, and whether its writes are paused by its API
    budget. A fixed number of queries (one per distinct CRM org's budget)."""
    name = current_app.config["CRM_ADAPTER"]
    if name != "salesforce":
        return {}
    from ..crm.salesforce.budget_store import org_budget_status
    from ..models.crm_connections import SalesforceConnection

    connections = {
        c.user_id: c
        for c in get_session().scalars(
            select(SalesforceConnection).where(
                SalesforceConnection.user_id.in_([u.id for u in users])
            )
        )
    }
    budgets: dict[tuple[int, str], dict] = {}
    out = {}
    for user in users:
        conn = connections.get(user.id)
        budget = {}
        if conn is not None:
            key = (user.org_id, conn.sf_org_id)
            if key not in budgets:
                budgets[key] = org_budget_status(*key)
            budget = budgets[key]
        out[user.id] = {
            "name": name,
            "connected": conn is not None,
            "needs_reauth": bool(conn is not None and conn.needs_reauth),
            "paused": bool(budget.get("paused")),
            "paused_until": budget.get("paused_until"),
            "pause_reason": budget.get("pause_reason", ""),
        }
    return out


def watched_user_ids(user_ids: list[int], now: datetime) -> set[int]:
    """Users whose mailbox live change notifications watch (none with webhooks off)."""
    if not current_app.config["SYNC_WEBHOOKS_ENABLED"]:
        return set()
    from .webhooks import subscription_watch

    return subscription_watch(user_ids, now)[0]
