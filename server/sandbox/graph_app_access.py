"""What an app-only token may read in the sandbox's Graph (see identity_app.py for the grant
and the access policy).

Application permissions by resource (https://learn.microsoft.com/graph/permissions-reference;
the "Permissions" table of each API page, e.g. message-delta, event-delta, user-get,
subscription-post-subscriptions): mail and mail subscriptions need Mail.Read (or
Mail.ReadBasic.All / Mail.ReadWrite), calendars Calendars.Read, a user's profile User.Read.All.
Without it Graph answers 403: ErrorAccessDenied "Access is denied. Check credentials and try
again." for mailbox data, Authorization_RequestDenied "Insufficient privileges to complete the
operation." for directory data. A mailbox outside the tenant's application access policy is
refused with 403 ErrorAccessDenied "Access to OData is disabled."
(https://learn.microsoft.com/graph/auth-limit-mailbox-access, "Handling API errors").
"""

from __future__ import annotations

from flask import Response, request

from .directory import DirectoryUser
from .identity_app import ACCESS_POLICY_MESSAGE, exchange_grants, mailbox_allowed

MAIL_ROLES = {"Mail.Read", "Mail.ReadBasic.All", "Mail.ReadWrite"}
CALENDAR_ROLES = {"Calendars.Read", "Calendars.ReadWrite"}
USER_ROLES = {"User.Read.All", "User.ReadBasic.All", "Directory.Read.All"}


def is_app_token(claims: dict) -> bool:
    return claims.get("idtyp") == "app"


def _needed(path: str) -> tuple[set[str], bool]:
    """(roles any of which is enough, whether the path is mailbox data)."""
    lowered = path.lower()
    if "/calendarview" in lowered or "/events" in lowered or "/calendar" in lowered:
        return CALENDAR_ROLES, True
    if "/mailfolders" in lowered or "/messages" in lowered:
        return MAIL_ROLES, True
    return USER_ROLES, False


def app_refusal(claims: dict, user: DirectoryUser, resource: str | None = None) -> Response | None:
    """None when the app-only token may read `user`'s data at this request's path (or at
    `resource`, a subscription's), else Graph's 403."""
    from .graph import graph_error  # graph.py imports this module

    roles = set(claims.get("roles") or [])
    needed, mailbox = _needed(resource or request.path)
    if mailbox and exchange_grants(user.tenant_id, user.object_id):
        return None
    if not roles & needed:
        if mailbox:
            return graph_error(
                403, "ErrorAccessDenied", "Access is denied. Check credentials and try again."
            )
        return graph_error(
            403, "Authorization_RequestDenied", "Insufficient privileges to complete the operation."
        )
    if mailbox and not mailbox_allowed(user.tenant_id, user.object_id):
        return graph_error(403, "ErrorAccessDenied", ACCESS_POLICY_MESSAGE)
    return None
