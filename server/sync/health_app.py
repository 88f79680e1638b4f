"""Health states of application mode (PRODUCT §3 plus issue 15), apart from health.py:

- `app_grant_missing`: the organisation's application grant is missing, revoked, or its
  credential refused (server/auth/app_tokens.py records why on the organisation);
- `not_in_app_scope`: the tenant refused this mailbox to the application (application access
  policy / RBAC for Applications: 403 ErrorAccessDenied); tried again at the safety poll;
- `removed_from_scope`: the user left the admin's chosen users or group; no longer read,
  what was saved stays.
A user of an application-mode organisation that the admin's scope never included is
`disabled` (the admin did not choose them)."""

from __future__ import annotations

from ..models.sync import SyncSession
from ..models.tenancy import User
from .app_mode import IN_SCOPE, REMOVED, is_app_mode

APP_STATES = ("app_grant_missing", "not_in_app_scope", "removed_from_scope")
GRANT_REASONS = ("consent_missing", "credential_rejected", "not_configured")
LABELS = {
    "app_grant_missing": "Application grant missing or revoked",
    "not_in_app_scope": "Not in the application's scope",
    "removed_from_scope": "Removed from scope",
}


def org_grant_missing(org) -> bool:
    return (org.app_grant_error or "").startswith(GRANT_REASONS)


def grant_missing(user: User) -> bool:
    return org_grant_missing(user.organisation)


def app_state(user: User, sessions: list[SyncSession]) -> str:
    """The state that application mode decides by itself, or "" to classify as usual."""
    if user.app_scope == REMOVED:
        return "removed_from_scope"
    if user.app_scope != IN_SCOPE:
        return "disabled"
    if grant_missing(user):
        return "app_grant_missing"
    last = next((s for s in sessions if s.status != "running"), None)
    if last is not None and last.status == "refused":
        return "not_in_app_scope"
    return ""


def app_mode_user(user: User) -> bool:
    return is_app_mode(user.organisation)


def app_error(user: User, state: str, sessions: list[SyncSession]) -> str:
    """What the health view shows as the last error of an application-mode state."""
    if state == "app_grant_missing":
        return user.organisation.app_grant_error
    if state == "not_in_app_scope":
        last = next((s for s in sessions if s.status == "refused"), None)
        return last.error if last is not None else ""
    return ""
