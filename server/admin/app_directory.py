"""Application mode's directory refresh: with the app-only token (application permissions
User.Read.All and GroupMember.Read.All, after admin consent), read the tenant's users and the
chosen scope's members, then apply who joined and who left (scope_diff.py, pure).

Joiners get a User row with app_scope 'in' (they never signed in: the worker reads their
mailbox with the app-only token) and are due for a sync at once; leavers — out of the group,
unpicked, or gone from the tenant — get app_scope 'removed', so their sync stops. Nothing
already saved is deleted: their ledger, CRM activities and sessions stay as they are.

Graph calls (https://learn.microsoft.com/graph/api/user-list and
https://learn.microsoft.com/graph/api/group-list-transitivemembers): both page with $top up to
999 and @odata.nextLink; transitiveMembers lists nested groups too, so only
"#microsoft.graph.user" members count.
"""

from __future__ import annotations

import logging
from urllib.parse import quote

from flask import current_app, has_request_context
from sqlalchemy import select

from ..auth.app_tokens import AppGrantMissing, app_graph_token
from ..auth.tokens import TokenUnavailable
from ..db import get_session, utcnow
from ..mail.graph import GraphClient
from ..mail.graph_errors import GraphError
from ..models.app_scope import AppScopeChoice, AppScopePick
from ..models.tenancy import Organisation, User
from ..sync.app_mode import is_app_mode, put_in_scope, remove_from_scope
from .audit import record_org_audit
from .directory import LIST_URL, DirectoryUnavailable, read_pages, store_directory
from .scope_diff import Person, ScopeChange, diff_scope, scope_members

log = logging.getLogger(__name__)
USER_TYPE = "#microsoft.graph.user"
MEMBERS_URL = "groups/{id}/transitiveMembers?$select=id,displayName,mail,userPrincipalName&$top=999"


def choice_for(org: Organisation, create: bool = False) -> AppScopeChoice | None:
    db = get_session()
    choice = db.get(AppScopeChoice, org.id)
    if choice is None and create:
        choice = AppScopeChoice(
            org_id=org.id, kind="users", group_id="", group_name="", last_error=""
        )
        db.add(choice)
        db.flush()
    return choice


def picked_ids(org: Organisation) -> list[str]:
    return list(
        get_session().scalars(
            select(AppScopePick.object_id)
            .where(AppScopePick.org_id == org.id)
            .order_by(AppScopePick.object_id)
        )
    )


def app_client(org: Organisation, timeout: float = 20.0, retries: int = 3) -> GraphClient:
    """A Graph client with the organisation's app-only token (raises AppGrantMissing)."""
    token = app_graph_token(org)
    return GraphClient(
        current_app.config["GRAPH_BASE_URL"],
        token,
        f"app:{org.tenant_id}",  # the per-mailbox concurrency cap: one "mailbox" per tenant
        timeout=timeout,
        max_retries=retries,
    )


def _person(raw: dict) -> Person:
    return Person(
        str(raw.get("id", "")).lower(),
        str(raw.get("displayName") or "")[:200],
        str(raw.get("mail") or raw.get("userPrincipalName") or "").lower()[:320],
    )


def group_member_ids(client: GraphClient, group_id: str) -> list[str]:
    items = read_pages(client, MEMBERS_URL.format(id=quote(group_id, safe="")))
    return [str(m.get("id", "")).lower() for m in items if m.get("@odata.type") == USER_TYPE]


def _apply(org: Organisation, members: dict[str, Person], change: ScopeChange) -> None:
    db = get_session()
    users = {u.object_id: u for u in db.scalars(select(User).where(User.org_id == org.id))}
    for person in change.joiners:
        user = users.get(person.object_id)
        if user is None:
            user = User(
                org_id=org.id,
                tenant_id=org.tenant_id,
                object_id=person.object_id,
                email=person.email,
                display_name=person.name,
                aliases=[],
                role="user",
                sync_enabled=True,
            )
            db.add(user)
        db.flush()
        put_in_scope(db, user)  # also makes the scheduler look at the mailbox at once
    for object_id in change.leavers:
        remove_from_scope(db, users[object_id])
    for object_id in change.staying:
        person, user = members[object_id], users[object_id]
        user.display_name = person.name or user.display_name
        user.email = person.email or user.email


def refresh_app_scope(org: Organisation, actor_label: str = "") -> ScopeChange:
    """Read the directory and the scope with the app-only token and apply joiners and
    leavers. Commits; records the outcome on the choice and in the audit log. Raises
    DirectoryUnavailable (Graph refused or failed) or AppGrantMissing (no usable grant)."""
    db = get_session()
    try:
        # The token first: app_tokens writes its cache in its own session, which must not
        # wait behind a write of ours (SQLite has one writer at a time).
        client = app_client(org)
        choice = choice_for(org, create=True)
        raw_people = read_pages(client, LIST_URL)
        tenant = {p.object_id: p for p in map(_person, raw_people) if p.object_id}
        if choice.kind == "group" and choice.group_id:
            chosen = group_member_ids(client, choice.group_id)
        elif choice.kind == "group":
            chosen = []  # no group picked yet: nobody
        else:
            chosen = picked_ids(org)
    except (AppGrantMissing, TokenUnavailable, DirectoryUnavailable, GraphError) as exc:
        db.rollback()
        choice = choice_for(org, create=True)
        choice.last_error = str(exc)[:500]
        record_org_audit(
            org,
            "directory.refresh_failed",
            after={"mode": "application", "error": str(exc)[:300]},
            actor_label=actor_label or "scheduler",
        )
        raise
    store_directory(org.id, raw_people, commit=False)
    members = scope_members(tenant, chosen)
    current = dict(
        db.execute(select(User.object_id, User.app_scope).where(User.org_id == org.id)).all()
    )
    change = diff_scope(members, current)
    _apply(org, members, change)
    choice.refreshed_at = utcnow()
    choice.last_joiners, choice.last_leavers = len(change.joiners), len(change.leavers)
    choice.last_error = ""
    record_org_audit(
        org,
        "directory.refreshed",
        after={
            "mode": "application",
            "people": len(tenant),
            "in_scope": len(members),
            "joiners": len(change.joiners),
            "leavers": len(change.leavers),
            "joined": [p.email for p in change.joiners][:20],
            "left": list(change.leavers)[:20],
        },
        actor_label="" if has_request_context() else (actor_label or "scheduler"),
    )  # commits
    log.info(
        "app scope of org %s: %d in, %d joined, %d left",
        org.id,
        len(members),
        len(change.joiners),
        len(change.leavers),
    )
    return change


def in_application_mode(org: Organisation) -> bool:
    return is_app_mode(org)
