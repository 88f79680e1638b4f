"""The tenant's people, read from Microsoft Graph's user list with an admin's delegated token
and kept in DirectoryMember rows, so the users table shows everyone, not only those who signed
in. Refreshed every 24 hours by the scheduler (periodic job "directory") and on demand.
In application mode the app-only token reads it, with the scope's members (app_directory.py).

Permission: delegated User.ReadBasic.All, the least privileged one that lists users
(https://learn.microsoft.com/graph/api/user-list#permissions); it covers id, displayName,
mail and userPrincipalName, which is all we keep.
"""

from __future__ import annotations

import logging
from datetime import timedelta

from flask import current_app
from sqlalchemy import delete, select

from ..auth.tokens import NeedsReauth, TokenUnavailable, graph_token_for
from ..db import get_session, utcnow
from ..mail.graph import GraphClient
from ..mail.graph_errors import GraphError
from ..models.admin import DirectoryMember
from ..models.connections import MicrosoftConnection
from ..models.tenancy import Organisation, User

log = logging.getLogger(__name__)
DIRECTORY_SCOPES = ["User.ReadBasic.All"]
LIST_URL = "users?$select=id,displayName,mail,userPrincipalName&$top=999"
REFRESH_EVERY = timedelta(hours=24)
MAX_PAGES = 1000  # 999 000 people: a guard against a paging loop, not a real limit


class DirectoryUnavailable(Exception):
    """The directory could not be read (no admin token, consent missing, Graph failing)."""


def read_directory(admin: User) -> list[dict]:
    try:
        token = graph_token_for(admin, scopes=DIRECTORY_SCOPES)
    except (NeedsReauth, TokenUnavailable) as exc:
        raise DirectoryUnavailable(
            f"no directory access for this admin; sign in again or grant admin consent ({exc})"
        ) from None
    client = GraphClient(current_app.config["GRAPH_BASE_URL"], token, admin.object_id)
    return read_pages(client, LIST_URL)


def read_pages(client: GraphClient, url: str) -> list[dict]:
    """Every item of a Graph collection, following @odata.nextLink."""
    items: list[dict] = []
    next_url: str | None = url
    pages = 0
    try:
        while next_url and pages < MAX_PAGES:
            page = client.get(next_url)
            items.extend(page.get("value") or [])
            next_url = page.get("@odata.nextLink")
            pages += 1
    except GraphError as exc:
        raise DirectoryUnavailable(f"Microsoft Graph answered: {exc}") from None
    return items


def refresh_directory(admin: User) -> int:
    """Replace the organisation's directory rows with what Graph lists now; returns the
    number of people. Commits."""
    return store_directory(admin.org_id, read_directory(admin))


def store_directory(org_id: int, people: list[dict], commit: bool = True) -> int:
    """Make the organisation's DirectoryMember rows what `people` (Graph user objects) say."""
    db = get_session()
    existing = {
        m.object_id: m
        for m in db.scalars(select(DirectoryMember).where(DirectoryMember.org_id == org_id))
    }
    now = utcnow()
    seen: set[str] = set()
    for person in people:
        object_id = str(person.get("id", "")).lower()
        if not object_id or object_id in seen:
            continue
        seen.add(object_id)
        email = (person.get("mail") or person.get("userPrincipalName") or "").lower()[:320]
        name = str(person.get("displayName") or "")[:200]
        row = existing.get(object_id)
        if row is None:
            db.add(
                DirectoryMember(
                    org_id=org_id,
                    object_id=object_id,
                    display_name=name,
                    email=email,
                    refreshed_at=now,
                )
            )
        else:
            row.display_name, row.email, row.refreshed_at = name, email, now
    gone = set(existing) - seen
    if gone:
        db.execute(
            delete(DirectoryMember).where(
                DirectoryMember.org_id == org_id, DirectoryMember.object_id.in_(gone)
            )
        )
    org = db.get(Organisation, org_id)
    org.directory_refreshed_at = now
    if commit:
        db.commit()
    return len(seen)


def connected_admins(org_id: int, limit: int | None = None) -> list[User]:
    """The organisation's admins whose Microsoft connection works, oldest first: whose
    delegated token can read the directory (or probe consent)."""
    query = (
        select(User)
        .join(MicrosoftConnection, MicrosoftConnection.user_id == User.id)
        .where(
            User.org_id == org_id,
            User.role == "admin",
            MicrosoftConnection.needs_reauth.is_(False),
        )
        .order_by(User.id)
        .limit(limit)
    )
    return list(get_session().scalars(query))


def refresh_due_directories() -> list[int]:
    """The periodic job: every organisation whose directory is older than 24 hours, read
    with the token of one of its connected admins. Returns the organisation ids refreshed."""
    db = get_session()
    cutoff = utcnow() - REFRESH_EVERY
    orgs = list(
        db.scalars(
            select(Organisation).where(
                (Organisation.directory_refreshed_at.is_(None))
                | (Organisation.directory_refreshed_at < cutoff)
            )
        )
    )
    refreshed = []
    for org in orgs:
        if org.sync_mode == "application":
            # Application mode: the app-only token reads the directory and the scope's
            # members; without a usable grant, an admin's delegated token still reads the list.
            from ..auth.app_tokens import AppGrantMissing
            from ..auth.tokens import TokenUnavailable
            from .app_directory import refresh_app_scope

            try:
                refresh_app_scope(org, actor_label="scheduler")
            except (AppGrantMissing, TokenUnavailable, DirectoryUnavailable) as exc:
                log.info("app scope of org %s not refreshed: %s", org.id, exc)
            else:
                refreshed.append(org.id)
                continue
        for admin in connected_admins(org.id):
            try:
                refresh_directory(admin)
            except DirectoryUnavailable as exc:
                log.info("directory of org %s not read with admin %s: %s", org.id, admin.id, exc)
                continue
            refreshed.append(org.id)
            break
    return refreshed
