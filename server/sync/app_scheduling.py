"""The scheduler's rules for application mode (kept out of scheduler.py): who may be synced,
when a refused mailbox is tried again, and when a failed application grant counts as renewed."""

from __future__ import annotations

from sqlalchemy import select

from ..models.sync import SyncSession
from ..models.tenancy import Organisation, User
from .app_mode import APPLICATION, IN_SCOPE


def may_sync(mode: str, scope: str | None, needs_reauth: bool | None) -> bool:
    """Delegated mode: the user's Microsoft connection exists and works. Application mode:
    the user is in the admin's scope (no connection needed; a signed-in user outside the
    scope is not read)."""
    if mode == APPLICATION:
        return scope == IN_SCOPE
    return needs_reauth is False


def refused(sessions: list[SyncSession] | None) -> bool:
    """The last session found the mailbox outside the application's scope."""
    return bool(sessions) and sessions[0].status == "refused"


def app_grant_renewals(db, user_ids: list[int]) -> list[tuple[int, object]]:
    """(user id, when the organisation's application grant last worked) for users whose last
    session failed on it: a consent or a successful app-only token after that session
    (preflight, directory refresh, another check) lets them run again."""
    if not user_ids:
        return []
    rows = db.execute(
        select(
            User.id,
            Organisation.app_grant_error,
            Organisation.app_grant_checked_at,
            Organisation.app_consent_at,
        )
        .join(Organisation, Organisation.id == User.org_id)
        .where(User.id.in_(user_ids))
    ).all()
    out = []
    for user_id, error, checked_at, consent_at in rows:
        moments = [m for m in (consent_at, None if error else checked_at) if m is not None]
        out.append((user_id, max(moments) if moments else None))
    return out
