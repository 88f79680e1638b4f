"""The admin role and where it comes from.

Two sources, tracked separately on the user: a directory role in the token's `wids` (Global
Administrator), refreshed at every sign-in, and an explicit grant (the console or
`flask admin grant`). The user is an admin while either holds, so a demoted Global
Administrator stops being a Courier admin at their next sign-in unless someone granted it too.
"""

from __future__ import annotations

from ..models.tenancy import User


def _apply(user: User) -> None:
    user.role = "admin" if (user.admin_by_directory or user.admin_by_grant) else "user"


def set_directory_admin(user: User, is_directory_admin: bool) -> None:
    """At sign-in: the directory role as the token says now (caller commits)."""
    user.admin_by_directory = is_directory_admin
    _apply(user)


def set_granted_admin(user: User, granted: bool) -> None:
    """An explicit grant or its removal (caller commits and audits). Removing the grant of a
    user who holds the directory role leaves them admin: the directory decides that part."""
    user.admin_by_grant = granted
    _apply(user)


def role_sources(user: User) -> list[str]:
    return [
        name
        for name, held in (("directory", user.admin_by_directory), ("grant", user.admin_by_grant))
        if held
    ]
