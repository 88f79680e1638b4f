"""The deployment page's preflight checks for application mode: an app-only token with the
roles the sync needs, a mailbox inside the scope readable, one outside refused.

The last one tests the tenant's own limit on the application — an application access policy
or RBAC for Applications (README, "Limit the mailboxes at the tenant"). Exchange refuses a
mailbox outside it with 403 ErrorAccessDenied
(https://learn.microsoft.com/graph/auth-limit-mailbox-access). Reading only the inbox folder's
id keeps each probe to one small call.
"""

from __future__ import annotations

from urllib.parse import quote

import requests
from sqlalchemy import select

from ..auth.tokens import TokenUnavailable
from ..db import get_session
from ..mail.graph_errors import GraphError
from ..models.admin import DirectoryMember
from ..models.app_scope import AppScopeChoice
from ..models.tenancy import Organisation, User
from .app_directory import app_client
from .deployment import Check

NEEDED = ("Mail.Read", "Calendars.Read", "User.Read.All")
GROUP_ROLE = "GroupMember.Read.All"
# Any of these also grants what we need (higher privileged: avoid, but they work).
ALSO_WORKS = {
    "Mail.Read": {"Mail.ReadWrite"},
    "Calendars.Read": {"Calendars.ReadWrite"},
    "User.Read.All": {"Directory.Read.All", "User.ReadWrite.All"},
    GROUP_ROLE: {"Group.Read.All", "Directory.Read.All"},
}
PROBE = "users/{id}/mailFolders/inbox?$select=id"


def _missing_roles(roles: list[str], needed: tuple[str, ...]) -> list[str]:
    held = set(roles)
    return [r for r in needed if r not in held and not held & ALSO_WORKS.get(r, set())]


def _token_check(org: Organisation) -> tuple[Check, object | None]:
    from ..auth.app_tokens import AppGrantMissing, roles_of

    name = "An app-only token has the roles the sync needs"
    choice = get_session().get(AppScopeChoice, org.id)
    needed = NEEDED + ((GROUP_ROLE,) if choice is not None and choice.kind == "group" else ())
    try:
        client = app_client(org, timeout=10, retries=1)
    except AppGrantMissing as exc:
        fix = {
            "not_configured": "Set the app's certificate (MS_APP_CERT_KEY_PATH and "
            "MS_APP_CERT_PATH) or MS_APP_CLIENT_SECRET (README: Application mode).",
            "credential_rejected": "Renew the certificate or secret in the app registration "
            "and in Courier's settings.",
        }.get(exc.reason, "Grant consent for application permissions (Sync mode page).")
        return Check(name, False, f"no token: {exc}", fix), None
    except TokenUnavailable as exc:
        return Check(name, False, f"the identity platform did not answer: {exc}", "Retry."), None
    missing = _missing_roles(roles_of(client.token), needed)
    if missing:
        return Check(
            name,
            False,
            f"missing {', '.join(missing)}",
            "Add these application permissions to the app registration (API permissions → "
            "Microsoft Graph → Application permissions), then grant consent again.",
        ), client
    return Check(name, True, f"roles: {', '.join(sorted(roles_of(client.token)))}"), client


def _probe(client, object_id: str) -> tuple[str, str]:
    """("read" | "refused" | "error", detail) for one mailbox."""
    try:
        client.get(PROBE.format(id=quote(object_id, safe="")))
    except GraphError as exc:
        if exc.status == 403:
            return "refused", f"403 {exc.code}"
        return "error", f"{exc.status} {exc.code}: {exc}"
    except requests.RequestException as exc:
        return "error", type(exc).__name__
    return "read", "inbox readable"


def _inside(org: Organisation) -> User | None:
    return get_session().scalar(
        select(User).where(User.org_id == org.id, User.app_scope == "in").order_by(User.id)
    )


def _outside(org: Organisation) -> tuple[str, str] | None:
    """(object id, address) of someone of the directory who is not in the scope."""
    db = get_session()
    inside = select(User.object_id).where(User.org_id == org.id, User.app_scope == "in")
    member = db.execute(
        select(DirectoryMember.object_id, DirectoryMember.email)
        .where(DirectoryMember.org_id == org.id, DirectoryMember.object_id.not_in(inside))
        .order_by(DirectoryMember.object_id)
    ).first()
    if member is not None:
        return member.object_id, member.email
    user = db.execute(
        select(User.object_id, User.email)
        .where(User.org_id == org.id, (User.app_scope.is_(None)) | (User.app_scope != "in"))
        .order_by(User.id)
    ).first()
    return (user.object_id, user.email) if user is not None else None


def app_mode_checks(org: Organisation) -> list[Check]:
    token_check, client = _token_check(org)
    checks = [token_check]
    inside_name = "A mailbox inside the scope is readable"
    outside_name = "A mailbox outside the scope is refused"
    if client is None:
        return [
            *checks,
            Check(inside_name, False, "no app-only token", "Fix the check above first."),
            Check(outside_name, False, "no app-only token", "Fix the check above first."),
        ]
    user = _inside(org)
    if user is None:
        checks.append(
            Check(
                inside_name,
                False,
                "nobody is in the scope",
                "Choose who is synced (Sync mode page), then refresh the directory.",
            )
        )
    else:
        outcome, detail = _probe(client, user.object_id)
        checks.append(
            Check(
                inside_name,
                outcome == "read",
                f"{user.email}: {detail}",
                ""
                if outcome == "read"
                else "The tenant refuses this mailbox: add the person to the group your "
                "application access policy (or management scope) names (README).",
            )
        )
    other = _outside(org)
    if other is None:
        checks.append(Check(outside_name, True, "everyone in the directory is in the scope"))
    else:
        outcome, detail = _probe(client, other[0])
        checks.append(
            Check(
                outside_name,
                outcome == "refused",
                f"{other[1] or other[0]}: {detail}",
                ""
                if outcome == "refused"
                else "Courier could read a mailbox outside the scope: limit the application "
                "at the tenant with an application access policy or RBAC for Applications "
                "(README: Limit the mailboxes at the tenant).",
            )
        )
    return checks
