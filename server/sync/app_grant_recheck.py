"""A refused application grant is asked about again on a timer (scheduler tick).

When the tenant's admin revokes the application permissions, the next app-only token request
records the refusal on the organisation (auth/app_tokens.py: app_grant_error) and the
sessions stop as needs_reauth. Consent given again in Entra — not through Courier's consent
page — tells Courier nothing, and nothing else asks for a token while no session runs: the
organisation would stay "grant missing" until an admin opened a check. So each tick, an
organisation in application mode whose grant is refused and was last checked longer than
APP_GRANT_RECHECK_MINUTES ago gets one fresh token request. A granted token clears the error
and marks the scope's mailboxes due (app_tokens._record), and the scheduler's renewal rule
(app_scheduling.app_grant_renewals) lets their sessions run again in the same tick.

The check is claimed first by moving app_grant_checked_at to now in one conditional UPDATE,
so however many schedulers tick, an organisation is asked at most once an interval.
"""

from __future__ import annotations

import logging
from datetime import datetime, timedelta

from sqlalchemy import or_, update

from ..models.tenancy import Organisation
from .app_mode import APPLICATION

log = logging.getLogger(__name__)


def recheck_condition(cutoff: datetime):
    """Application mode, a refused grant, not checked since `cutoff`."""
    return (
        Organisation.sync_mode == APPLICATION,
        Organisation.app_grant_error != "",
        or_(
            Organisation.app_grant_checked_at.is_(None),
            Organisation.app_grant_checked_at < cutoff,
        ),
    )


def claim_rechecks(db, now: datetime, every: timedelta) -> list[int]:
    """The organisations this tick re-checks; their checked_at moves to now (committed), so
    a concurrent tick (or the next one within `every`) does not pick them again."""
    claimed = db.scalars(
        update(Organisation)
        .where(*recheck_condition(now - every))
        .values(app_grant_checked_at=now)
        .returning(Organisation.id)
    ).all()
    db.commit()
    return sorted(claimed)


def recheck_app_grants(db, now: datetime, every: timedelta) -> list[int]:
    """Ask the identity platform again for each claimed organisation; returns the ids whose
    grant works again."""
    from ..auth.app_tokens import AppGrantMissing, app_graph_token
    from ..auth.tokens import TokenUnavailable

    renewed = []
    for org_id in claim_rechecks(db, now, every):
        org = db.get(Organisation, org_id)
        try:
            # A fresh request, not a cached token: the point is to hear the tenant's answer.
            app_graph_token(org, force_refresh=True)
        except (AppGrantMissing, TokenUnavailable) as exc:
            log.info("application grant of org %s still unavailable: %s", org_id, exc)
            continue
        log.info("application grant of org %s works again", org_id)
        renewed.append(org_id)
    db.expire_all()  # the token request wrote the organisation in its own session
    return renewed
