"""The pure part of application mode's directory refresh: who joins and who leaves the scope.

No I/O here: the refresh (app_directory.py) reads the tenant's users and the scope's members
from Graph, the current state from the database, and hands both to `diff_scope`; the tests
check the set arithmetic on its own.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field


@dataclass(frozen=True)
class Person:
    object_id: str
    name: str = ""
    email: str = ""


@dataclass(frozen=True)
class ScopeChange:
    # In the scope now and not before: new User rows (never signed in) or back from 'removed'.
    joiners: tuple[Person, ...] = field(default_factory=tuple)
    # In the scope before and not now (left the group, unpicked, or left the tenant).
    leavers: tuple[str, ...] = field(default_factory=tuple)
    # Still in: nothing to do but refresh name and address.
    staying: tuple[str, ...] = field(default_factory=tuple)


def scope_members(tenant: Mapping[str, Person], chosen: Iterable[str]) -> dict[str, Person]:
    """The chosen object ids (picks or group members) that are still people of the tenant.
    A group member who left the tenant (or a non-user member: a device, a contact) is not
    in `tenant` and so not in the scope."""
    return {oid: tenant[oid] for oid in (c.lower() for c in chosen) if oid in tenant}


def diff_scope(members: Mapping[str, Person], current: Mapping[str, str | None]) -> ScopeChange:
    """`members`: who the scope holds now. `current`: every known user's object id → their
    app_scope ('in', 'removed' or None for someone who only signs in to the pane)."""
    was_in = {oid for oid, scope in current.items() if scope == "in"}
    now_in = set(members)
    joiners = tuple(members[oid] for oid in sorted(now_in - was_in))
    leavers = tuple(sorted(was_in - now_in))
    staying = tuple(sorted(now_in & was_in))
    return ScopeChange(joiners, leavers, staying)
