"""The sandbox Graph's groups, as Microsoft documents them:

- GET /groups (https://learn.microsoft.com/graph/api/group-list): least privileged permission
  GroupMember.Read.All, delegated and application (Group.Read.All, Directory.Read.All also
  work); `$filter` with startswith(displayName,'…') and groupTypes/any(c:c eq 'Unified');
  `$search="displayName:…"` only with the header `ConsistencyLevel: eventual`, otherwise
  400 Request_UnsupportedQuery (https://learn.microsoft.com/graph/aad-advanced-queries);
  `$top` (max 999) and @odata.nextLink paging.
- GET /groups/{id}: 404 Request_ResourceNotFound for an id that is not in the caller's tenant.
- GET /groups/{id}/transitiveMembers
  (https://learn.microsoft.com/graph/api/group-list-transitivemembers): GroupMember.Read.All;
  a flat list of every nested member — users and the nested groups themselves — each with
  its "@odata.type"; pages of 100 by default, `$top` up to 999, @odata.nextLink.
Without a permission: 403 Authorization_RequestDenied "Insufficient privileges to complete
the operation.", as for the user list. Registered on graph.py's `api` blueprint (same token
check and fault switches); the directory's changes over time are in directory_changes.py.
"""

from __future__ import annotations

import re
from urllib.parse import urlencode

from flask import Blueprint, g, request

from . import graph_state
from .directory_changes import Group, changes
from .graph import api, graph_error, json_response

bp = Blueprint("sandbox_groups", __name__)  # the routes are on graph.api
READ_GROUPS = {"GroupMember.Read.All", "Group.Read.All", "Directory.Read.All"}
_STARTSWITH = re.compile(r"startswith\(displayName,\s*'((?:[^']|'')*)'\)", re.I)
_UNIFIED = re.compile(r"groupTypes/any\((\w+):\s*\1 eq 'Unified'\)", re.I)
_SEARCH = re.compile(r'^"displayName:([^"]*)"$')
GROUP_TYPE = "#microsoft.graph.group"
USER_TYPE = "#microsoft.graph.user"


def _allowed() -> bool:
    claims = g.claims
    granted = set(str(claims.get("scp", "")).split()) | set(claims.get("roles") or [])
    return bool(granted & READ_GROUPS)


def _denied():
    return graph_error(
        403, "Authorization_RequestDenied", "Insufficient privileges to complete the operation."
    )


def _group_json(group: Group) -> dict:
    return {
        "id": group.id,
        "displayName": group.display_name,
        "description": group.description or None,
        "groupTypes": ["Unified"],
        "mailEnabled": True,
        "securityEnabled": False,
        "mail": f"{re.sub(r'[^a-z0-9]+', '.', group.display_name.lower()).strip('.')}@groups",
    }


def _paging() -> tuple[int, int] | None:
    try:
        top = max(1, min(999, int(request.args.get("$top", "100"))))
        skip = max(0, int(request.args.get("$skiptoken", "0")))
    except ValueError:
        return None
    return top, skip


def _page(items: list[dict], top: int, skip: int, context: str) -> dict:
    body = {"@odata.context": context, "value": items[skip : skip + top]}
    if skip + top < len(items):
        keep = {k: v for k, v in request.args.items() if k not in ("$top", "$skiptoken")}
        query = urlencode({"$top": top, "$skiptoken": skip + top, **keep})
        body["@odata.nextLink"] = f"{request.base_url}?{query}"
    return body


def _tenant_group(group_id: str) -> Group | None:
    group = changes().groups.get(group_id.lower())
    return group if group is not None and group.tenant_id == g.claims.get("tid") else None


@api.get("/groups")
def list_groups():
    if not _allowed():
        return _denied()
    paging = _paging()
    if paging is None:
        return graph_error(400, "Request_BadRequest", "Invalid paging value.")
    groups = sorted(
        (x for x in changes().groups.values() if x.tenant_id == g.claims.get("tid")),
        key=lambda x: x.display_name.lower(),
    )
    search = request.args.get("$search")
    if search is not None:
        if request.headers.get("ConsistencyLevel", "").lower() != "eventual":
            return graph_error(
                400,
                "Request_UnsupportedQuery",
                "Request with $search query parameter only works through MSGraph with a "
                "special request header: 'ConsistencyLevel: eventual'",
            )
        match = _SEARCH.match(search.strip())
        if match is None:
            return graph_error(400, "Request_UnsupportedQuery", "Unsupported $search value.")
        # Tokenized search: any word of the name starting with the text.
        needle = match.group(1).strip().lower()
        groups = [
            x
            for x in groups
            if any(w.startswith(needle) for w in x.display_name.lower().split())
            or x.display_name.lower().startswith(needle)
        ]
    flt = request.args.get("$filter")
    if flt:
        rest = _UNIFIED.sub("", flt)
        prefix = _STARTSWITH.search(rest)
        rest = _STARTSWITH.sub("", rest)
        if re.sub(r"\s|\band\b", "", rest):
            return graph_error(400, "Request_UnsupportedQuery", "Unsupported query.")
        if prefix is not None:
            start = prefix.group(1).replace("''", "'").lower()
            groups = [x for x in groups if x.display_name.lower().startswith(start)]
    items = [_group_json(x) for x in groups]
    top, skip = paging
    return json_response(
        _page(items, top, skip, "https://graph.microsoft.com/v1.0/$metadata#groups")
    )


@api.get("/groups/<group_id>")
def get_group(group_id: str):
    if not _allowed():
        return _denied()
    group = _tenant_group(group_id)
    if group is None:
        return _not_found(group_id)
    return json_response(_group_json(group))


def _not_found(group_id: str):
    return graph_error(
        404,
        "Request_ResourceNotFound",
        f"Resource '{group_id}' does not exist or one of its queried reference-property "
        "objects are not present.",
    )


def transitive_members(group: Group) -> list[dict]:
    """Every member, nested groups expanded (each object once, the nested group included)."""
    st = changes()
    seen: set[str] = set()
    out: list[dict] = []
    pending = list(group.members)
    while pending:
        member = pending.pop(0)
        if member in seen:
            continue
        seen.add(member)
        nested = st.groups.get(member)
        if nested is not None:
            out.append({"@odata.type": GROUP_TYPE, **_group_json(nested)})
            pending.extend(nested.members)
            continue
        user = graph_state.user_by_id(member)
        if user is None or user.tenant_id != group.tenant_id:
            continue
        out.append(
            {
                "@odata.type": USER_TYPE,
                "id": user.object_id,
                "displayName": user.display_name,
                "mail": user.email,
                "userPrincipalName": user.email,
            }
        )
    return out


@api.get("/groups/<group_id>/transitiveMembers")
def list_transitive_members(group_id: str):
    if not _allowed():
        return _denied()
    group = _tenant_group(group_id)
    if group is None:
        return _not_found(group_id)
    paging = _paging()
    if paging is None:
        return graph_error(400, "Request_BadRequest", "Invalid paging value.")
    top, skip = paging
    return json_response(
        _page(
            transitive_members(group),
            top,
            skip,
            "https://graph.microsoft.com/v1.0/$metadata#directoryObjects",
        )
    )
