"""The console's side of application mode: switching the organisation's sync mode, choosing
the scope (picked users or one Microsoft 365 group), finding groups through Graph — each
change in the audit log with its before and after.

Group search (https://learn.microsoft.com/graph/api/group-list): `$filter` with
startswith(displayName,'…') and groupTypes/any(c:c eq 'Unified') is a default query (no
ConsistencyLevel header needed, unlike `$search`:
https://learn.microsoft.com/graph/aad-advanced-queries); application permission
GroupMember.Read.All is the least privileged one.
"""

from __future__ import annotations

from urllib.parse import quote

from sqlalchemy import delete, func, select

from ..db import get_session, utcnow
from ..errors import ApiError
from ..mail.graph_errors import FolderNotFound
from ..models.app_scope import AppScopeChoice, AppScopePick
from ..models.tenancy import Organisation, User
from ..sync.app_mode import set_sync_mode
from .app_directory import app_client, choice_for, picked_ids
from .audit import record_audit, record_org_audit

GROUP_FIELDS = "id,displayName,description,mail,groupTypes"
MAX_GROUPS_SHOWN = 25


def set_mode(org: Organisation, mode: str) -> bool:
    """Switch the organisation's sync mode; True when it changed. Audited; the caller
    commits."""
    before = org.sync_mode
    try:
        changed = set_sync_mode(get_session(), org, mode)
    except ValueError:
        raise ApiError(400, "bad_mode", "Choose delegated or application mode.") from None
    if changed:
        record_org_audit(
            org,
            "sync_mode.changed",
            before={"sync_mode": before},
            after={"sync_mode": mode},
            commit=False,
        )
    return changed


def describe(choice: AppScopeChoice | None, picks: list[str]) -> dict:
    if choice is None:
        return {"kind": "users", "group_id": "", "group_name": "", "users": picks}
    return {
        "kind": choice.kind,
        "group_id": choice.group_id,
        "group_name": choice.group_name,
        "users": picks,
    }


def _odata_quote(text: str) -> str:
    return text.replace("'", "''")


def search_groups(org: Organisation, text: str) -> list[dict]:
    """Microsoft 365 groups whose name starts with `text` (all of them for ""). Raises
    AppGrantMissing or GraphError."""
    flt = "groupTypes/any(c:c eq 'Unified')"
    if text:
        flt += f" and startswith(displayName,'{_odata_quote(text)}')"
    client = app_client(org, timeout=10, retries=1)
    page = client.get(f"groups?$filter={quote(flt)}&$select={GROUP_FIELDS}&$top=50")
    return [
        {
            "id": str(x.get("id", "")),
            "name": str(x.get("displayName") or ""),
            "description": str(x.get("description") or ""),
            "mail": str(x.get("mail") or ""),
        }
        for x in (page.get("value") or [])[:MAX_GROUPS_SHOWN]
    ]


def find_group(org: Organisation, group_id: str) -> dict:
    """The group, read from the tenant's Graph: an id of another tenant is not found (404)."""
    client = app_client(org, timeout=10, retries=1)
    try:
        found = client.get(f"groups/{quote(group_id, safe='')}?$select={GROUP_FIELDS}")
    except FolderNotFound:
        raise ApiError(404, "not_found", "No such group in your organisation.") from None
    return {"id": str(found.get("id", "")), "name": str(found.get("displayName") or "")}


def choose_group(org: Organisation, group_id: str) -> dict:
    """The scope becomes one group (checked against Graph first). Audited; the caller runs
    the refresh that applies it."""
    group = find_group(org, group_id)
    choice = choice_for(org, create=True)
    before = describe(choice, picked_ids(org))
    choice.kind, choice.group_id, choice.group_name = "group", group["id"], group["name"][:256]
    choice.updated_at = utcnow()
    _audit_scope(org, before, describe(choice, before["users"]))
    return group


def choose_users_kind(org: Organisation) -> None:
    """The scope becomes the users picked one by one (the picks are kept across switches)."""
    choice = choice_for(org, create=True)
    if choice.kind == "users":
        return
    picks = picked_ids(org)
    before = describe(choice, picks)
    choice.kind, choice.updated_at = "users", utcnow()
    _audit_scope(org, before, describe(choice, picks))


def set_picked(org: Organisation, object_id: str, label: str, picked: bool) -> bool:
    """Add one person to (or take them off) the picked users; True when it changed."""
    db = get_session()
    object_id = object_id.lower()
    exists = db.scalar(
        select(AppScopePick.id).where(
            AppScopePick.org_id == org.id, AppScopePick.object_id == object_id
        )
    )
    if bool(exists) == picked:
        return False
    if picked:
        db.add(AppScopePick(org_id=org.id, object_id=object_id))
    else:
        db.execute(
            delete(AppScopePick).where(
                AppScopePick.org_id == org.id, AppScopePick.object_id == object_id
            )
        )
    record_audit(
        org.id,
        "scope.user_added" if picked else "scope.user_removed",
        target_type="directory_user",
        target_id=object_id,
        target=label,
        before={"picked": not picked},
        after={"picked": picked},
    )
    return True


def _audit_scope(org: Organisation, before: dict, after: dict) -> None:
    record_org_audit(
        org,
        "scope.changed",
        before={k: before[k] for k in ("kind", "group_id", "group_name")},
        after={k: after[k] for k in ("kind", "group_id", "group_name")},
    )


def scope_counts(org: Organisation) -> dict[str, int]:
    rows = get_session().execute(
        select(User.app_scope, func.count())
        .where(User.org_id == org.id, User.app_scope.is_not(None))
        .group_by(User.app_scope)
    )
    counts = {"in": 0, "removed": 0}
    counts.update({scope: n for scope, n in rows})
    return counts
