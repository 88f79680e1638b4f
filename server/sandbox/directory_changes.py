"""The sandbox tenant's directory over time: Microsoft 365 groups with members, people who
join the tenant after the start, and people who leave it — switched by HTTP controls so a test
(or a demo) can play "a week later" across processes.

  POST   /_sandbox/directory/users   {"tenant_id", "display_name", "email"} → a joiner (201)
  DELETE /_sandbox/directory/users/<object_id>          the person leaves the tenant
  POST   /_sandbox/directory/groups  {"tenant_id", "display_name", "members": [ids]} (201)
  POST   /_sandbox/directory/groups/<id>/members {"id": object id (user or group)}
  DELETE /_sandbox/directory/groups/<id>/members/<member id>
  GET    /_sandbox/directory                             the whole state, for checks

What Graph then shows follows Microsoft's documents: a leaver is gone from GET /users and
GET /users/{id} answers 404 ErrorInvalidUser, and the sandbox takes them out of every group
(a deleted user's group memberships come back only if the user is restored:
https://learn.microsoft.com/entra/fundamentals/users-restore). Groups are Microsoft 365
("Unified") groups; nested groups count for transitiveMembers
(https://learn.microsoft.com/graph/api/group-list-transitivemembers).
"""

from __future__ import annotations

import itertools
import threading
import uuid
from dataclasses import dataclass, field

from flask import Blueprint, Flask, current_app, jsonify, request

from .directory import DEMO_TENANT_ID, DEMO_USERS, OTHER_TENANT_ID, DirectoryUser

bp = Blueprint("sandbox_directory_changes", __name__, url_prefix="/_sandbox/directory")
_joiner_numbers = itertools.count(1)


@dataclass
class Group:
    id: str
    tenant_id: str
    display_name: str
    description: str = ""
    members: list[str] = field(default_factory=list)  # object ids: users or nested groups


@dataclass
class DirectoryChanges:
    joiners: dict[str, DirectoryUser] = field(default_factory=dict)
    leavers: set[str] = field(default_factory=set)
    groups: dict[str, Group] = field(default_factory=dict)
    lock: threading.RLock = field(default_factory=threading.RLock)


def _demo(number: int) -> str:
    return DEMO_USERS[number].object_id


# Deterministic default groups: "Sales team" holds Bianca, Chen and the nested "Sales EMEA"
# group (Dana); "Support" holds Eli; the other tenant has its own group.
SALES_GROUP = "6a1e0000-0000-4000-9000-000000000001"
EMEA_GROUP = "6a1e0000-0000-4000-9000-000000000002"
SUPPORT_GROUP = "6a1e0000-0000-4000-9000-000000000003"
OTHER_GROUP = "6a1e0000-0000-4000-9000-000000000009"


def _default_groups() -> dict[str, Group]:
    groups = [
        Group(
            SALES_GROUP,
            DEMO_TENANT_ID,
            "Sales team",
            "Account executives",
            [_demo(1), _demo(2), EMEA_GROUP],
        ),
        Group(EMEA_GROUP, DEMO_TENANT_ID, "Sales EMEA", "Europe and Africa", [_demo(3)]),
        Group(SUPPORT_GROUP, DEMO_TENANT_ID, "Support", "Customer support", [_demo(4)]),
        Group(OTHER_GROUP, OTHER_TENANT_ID, "Northwind sales", "", [DEMO_USERS[6].object_id]),
    ]
    return {g.id: g for g in groups}


def init_state(app: Flask) -> None:
    app.extensions["sandbox_directory_changes"] = DirectoryChanges(groups=_default_groups())


def changes() -> DirectoryChanges | None:
    return current_app.extensions.get("sandbox_directory_changes") if current_app else None


def is_leaver(object_id: str) -> bool:
    found = changes()
    return found is not None and object_id.lower() in found.leavers


def joiner(key: str) -> DirectoryUser | None:
    found = changes()
    if found is None:
        return None
    key = key.lower()
    return next((u for u in found.joiners.values() if key in (u.object_id, u.email)), None)


def joiners_of(tenant_id: str) -> list[DirectoryUser]:
    found = changes()
    return [u for u in found.joiners.values() if u.tenant_id == tenant_id] if found else []


def _error(status: int, message: str):
    return jsonify({"error": "bad_request", "message": message}), status


@bp.post("/users")
def add_user():
    body = request.get_json(silent=True) or {}
    tenant_id = str(body.get("tenant_id") or DEMO_TENANT_ID)
    email = str(body.get("email") or "").lower()
    name = str(body.get("display_name") or "")
    if "@" not in email or not name:
        return _error(400, "display_name and email are required")
    number = next(_joiner_numbers)
    user = DirectoryUser(tenant_id, f"7e1a0000-0000-4000-8000-{number:012d}", name, email)
    st = changes()
    with st.lock:
        st.joiners[user.object_id] = user
    return jsonify({"id": user.object_id, "displayName": name, "mail": email}), 201


@bp.delete("/users/<object_id>")
def remove_user(object_id: str):
    st = changes()
    key = object_id.lower()
    with st.lock:
        st.leavers.add(key)
        for group in st.groups.values():
            group.members = [m for m in group.members if m != key]
    return jsonify({"removed": key})


@bp.post("/groups")
def add_group():
    body = request.get_json(silent=True) or {}
    name = str(body.get("display_name") or "")
    members = body.get("members") or []
    if not name or not isinstance(members, list):
        return _error(400, "display_name (and a members list) are required")
    group = Group(
        str(uuid.uuid4()),
        str(body.get("tenant_id") or DEMO_TENANT_ID),
        name,
        str(body.get("description") or ""),
        [str(m).lower() for m in members],
    )
    st = changes()
    with st.lock:
        st.groups[group.id] = group
    return jsonify({"id": group.id, "displayName": name}), 201


@bp.post("/groups/<group_id>/members")
def add_member(group_id: str):
    member = str((request.get_json(silent=True) or {}).get("id") or "").lower()
    st = changes()
    with st.lock:
        group = st.groups.get(group_id)
        if group is None or not member:
            return _error(404, "unknown group (or no member id)")
        if member not in group.members:
            group.members.append(member)
    return jsonify({"members": list(group.members)})


@bp.delete("/groups/<group_id>/members/<member_id>")
def remove_member(group_id: str, member_id: str):
    st = changes()
    with st.lock:
        group = st.groups.get(group_id)
        if group is None:
            return _error(404, "unknown group")
        group.members = [m for m in group.members if m != member_id.lower()]
    return jsonify({"members": list(group.members)})


@bp.get("")
def show():
    st = changes()
    with st.lock:
        return jsonify(
            {
                "joiners": sorted(st.joiners),
                "leavers": sorted(st.leavers),
                "groups": {
                    g.id: {"name": g.display_name, "members": g.members} for g in st.groups.values()
                },
            }
        )
