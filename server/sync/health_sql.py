"""The health state (PRODUCT §3) of every user of an organisation as one SQL expression, for
the admin's users table (sort and filter by state at any size) and the Overview's counts.

It is `sync.health.classify`, branch for branch, over the facts `sync/summary` keeps per user
(the newest session, consecutive failures, the last recent success) joined with what can
change without a session (sync switch, connections, initial reads, live subscriptions).
tests/integration/test_admin_health_sql.py proves the two agree state by state.
"""

from __future__ import annotations

from datetime import datetime, timedelta

from flask import current_app
from sqlalchemy import and_, case, false, func, literal, null, or_, select

from ..db import UTCDateTime, get_session, utcnow
from ..models.connections import MicrosoftConnection
from ..models.ledger import LedgerEntry
from ..models.sync import GraphSubscription, SyncSession, SyncState
from ..models.sync_summary import UserSyncSummary
from ..models.tenancy import Organisation, User
from .app_mode import IN_SCOPE, REMOVED, is_app_mode
from .health import DELAYED_AFTER, STALLED_AFTER, STALLED_FAILURES
from .health_app import org_grant_missing


def _at(moment: datetime):
    return literal(moment, UTCDateTime())


def _watched(now: datetime):
    """Users whose every subscription is live (sync/webhooks.subscription_watch)."""
    from .webhooks import resources_for

    wanted = len(resources_for(User(object_id="")))
    return (
        select(GraphSubscription.user_id.label("user_id"))
        .where(GraphSubscription.expires_at > _at(now))
        .group_by(GraphSubscription.user_id)
        .having(func.count(GraphSubscription.id) >= wanted)
        .subquery("watched")
    )


def health_subquery(org_id: int, now: datetime | None = None, user_ids=None):
    """(user_id, state, last_success_at, last_error, items_read, estimate) per user of the
    organisation (or of these users of it): one statement, joined by the users table's
    query."""
    now = now or utcnow()
    config = current_app.config
    conn = MicrosoftConnection
    summary = UserSyncSummary
    last = SyncSession.__table__.alias("last_session")
    query = (
        select(User.id.label("user_id"))
        .select_from(User)
        .outerjoin(conn, conn.user_id == User.id)
        .outerjoin(summary, summary.user_id == User.id)
        .outerjoin(last, last.c.id == summary.last_session_id)
        .where(User.org_id == org_id)
    )
    if user_ids is not None:
        query = query.where(User.id.in_(list(user_ids)))
    reauth = [
        conn.needs_reauth.is_(True),
        and_(
            last.c.status == "needs_reauth",
            func.substr(func.coalesce(last.c.error, ""), 1, 12) != "CRMAuthError",
            conn.updated_at <= last.c.started_at,
        ),
    ]
    crm_missing = crm_reauth = false()
    if config["CRM_ADAPTER"] == "salesforce":
        from ..models.crm_connections import SalesforceConnection as Sf

        query = query.outerjoin(Sf, Sf.user_id == User.id)
        crm_reauth = and_(Sf.id.isnot(None), Sf.needs_reauth.is_(True))
        reauth.insert(1, crm_reauth)
        crm_missing = Sf.id.is_(None)
    stalled_before = _at(now - STALLED_AFTER)
    success_after = _at(now - DELAYED_AFTER)
    if config["SYNC_WEBHOOKS_ENABLED"]:
        quiet = timedelta(minutes=config["SYNC_SAFETY_POLL_MINUTES"]) * 1.5
        watched = _watched(now)
        query = query.outerjoin(watched, watched.c.user_id == User.id)
        is_watched = watched.c.user_id.isnot(None)
        stalled_before = case((is_watched, _at(now - STALLED_AFTER - quiet)), else_=stalled_before)
        success_after = case((is_watched, _at(now - DELAYED_AFTER - quiet)), else_=success_after)
    # No sync state yet, or a folder whose first full read is not done (one grouped join,
    # not a subquery per user: cheap to plan and to run at any size).
    reads = select(
        SyncState.user_id.label("user_id"),
        func.max(case((SyncState.initial_done.is_(False), 1), else_=0)).label("pending"),
    ).where(SyncState.org_id == org_id)
    if user_ids is not None:
        reads = reads.where(SyncState.user_id.in_(list(user_ids)))
    reads = reads.group_by(SyncState.user_id).subquery("reads")
    query = query.outerjoin(reads, reads.c.user_id == User.id)
    initial_pending = or_(reads.c.user_id.is_(None), reads.c.pending == 1)
    org = get_session().get(Organisation, org_id)
    if is_app_mode(org):
        # sync.health_app.app_state, branch for branch: the user's own connection plays no
        # part, and only the CRM's grant can ask for re-authentication.
        account = [
            (User.app_scope == REMOVED, "removed_from_scope"),
            (or_(User.app_scope.is_(None), User.app_scope != IN_SCOPE), "disabled"),
        ]
        if org_grant_missing(org):
            account.append((User.app_scope == IN_SCOPE, "app_grant_missing"))
        account.append((summary.last_refused.is_(True), "not_in_app_scope"))
        account.append((crm_reauth, "needs_reauth"))
    else:
        account = [(conn.id.is_(None), "not_started"), (or_(*reauth), "needs_reauth")]
    state = case(
        (User.sync_enabled.is_(False), "disabled"),
        *account,
        (crm_missing, "not_started"),
        (last.c.id.is_(None), "not_started"),
        (
            and_(last.c.status == "running", or_(initial_pending, last.c.initial.is_(True))),
            "initializing",
        ),
        (
            or_(summary.failures >= STALLED_FAILURES, last.c.started_at < stalled_before),
            "stalled",
        ),
        (summary.recent_success_at >= success_after, "up_to_date"),
        (and_(summary.recent_success_at.is_(None), initial_pending), "initializing"),
        else_="delayed",
    )
    return query.add_columns(
        state.label("state"),
        summary.last_success_at.label("last_success_at"),
        func.coalesce(summary.last_error, "").label("last_error"),
        last.c.items_read.label("items_read"),
        last.c.estimate.label("estimate"),
    ).subquery("health")


def saved_since_column(user_id_column, days: int = 7, now: datetime | None = None):
    """Distinct items the row's user saved in the last `days` days, as a correlated scalar
    subquery: an index lookup per row (ix_ledger_user_status_updated) on both databases.
    (A join to a grouped subquery made SQLite re-scan the grouping for every row of a
    filtered list: 21 s at 10,000 people.)"""
    since = (now or utcnow()) - timedelta(days=days)
    return (
        select(func.count(func.distinct(LedgerEntry.item_key)))
        .where(
            LedgerEntry.user_id == user_id_column,
            LedgerEntry.status == "saved",
            LedgerEntry.updated_at >= _at(since),
        )
        .scalar_subquery()
    )


__all__ = ["health_subquery", "saved_since_column", "null"]
