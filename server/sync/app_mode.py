"""Application mode's rules about who is synced (pure lookups plus small writes the console
and the directory refresh share).

In application mode an organisation's worker reads the mailboxes of users whose `app_scope`
is "in" with an app-only token (server/auth/app_tokens.py), whether or not they ever signed
in; users outside the scope are not read, even if they signed in to the pane. In delegated
mode nothing here applies: each user's own sign-in feeds their sync.
"""

from __future__ import annotations

from sqlalchemy import and_, or_, select
from sqlalchemy.orm import Session

from ..models.schedule import mark_due
from ..models.tenancy import Organisation, User

DELEGATED = "delegated"
APPLICATION = "application"
SYNC_MODES = (DELEGATED, APPLICATION)
IN_SCOPE = "in"
REMOVED = "removed"


def is_app_mode(org: Organisation | None) -> bool:
    return org is not None and org.sync_mode == APPLICATION


def synced_by_app(user: User) -> bool:
    """This user's mailbox is read with the organisation's app-only token."""
    return is_app_mode(user.organisation) and user.app_scope == IN_SCOPE


def out_of_app_scope(user: User) -> bool:
    """Application mode, and the admin's scope does not include this user: not synced."""
    return is_app_mode(user.organisation) and user.app_scope != IN_SCOPE


def may_sync_condition(connected):
    """SQL condition (User joined with Organisation) for the scheduler: delegated users need
    a live connection (`connected`: a SQL condition on MicrosoftConnection), application-mode
    users need to be in scope."""
    return or_(
        and_(Organisation.sync_mode != APPLICATION, connected),
        and_(Organisation.sync_mode == APPLICATION, User.app_scope == IN_SCOPE),
    )


def put_in_scope(db: Session, user: User) -> bool:
    """The user joined the admin's scope: synced from the next tick. Returns True when this
    changed anything. The caller commits (and writes the audit entry)."""
    if user.app_scope == IN_SCOPE:
        return False
    user.app_scope = IN_SCOPE
    mark_due(db, user.id, user.org_id)
    return True


def remove_from_scope(db: Session, user: User) -> bool:
    """The user left the scope: no longer read; what was saved stays. The caller commits."""
    if user.app_scope != IN_SCOPE:
        return False
    user.app_scope = REMOVED
    return True


def set_sync_mode(db: Session, org: Organisation, mode: str) -> bool:
    """Switch the organisation's mode; every mailbox then to be synced is looked at by the
    next tick. The caller commits (and audits). Raises ValueError for an unknown mode."""
    if mode not in SYNC_MODES:
        raise ValueError(f"unknown sync mode {mode!r}")
    if org.sync_mode == mode:
        return False
    org.sync_mode = mode
    for user_id in db.scalars(select(User.id).where(User.org_id == org.id)):
        mark_due(db, user_id, org.id)
    return True
