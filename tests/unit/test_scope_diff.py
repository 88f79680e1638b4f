"""Application mode's scope arithmetic (admin/scope_diff.py): who joins, who leaves, who
stays — without a database or Graph."""

from __future__ import annotations

from server.admin.scope_diff import Person, diff_scope, scope_members

ANA, BEN, CAT, DAN = (Person(f"id-{n}", n.capitalize(), f"{n}@x.test") for n in "abcd")
TENANT = {p.object_id: p for p in (ANA, BEN, CAT, DAN)}


def test_members_are_the_chosen_people_still_in_the_tenant():
    members = scope_members(TENANT, ["ID-A", "id-c", "id-gone", "group-id"])
    assert list(members) == ["id-a", "id-c"]  # case folded; left the tenant / not a user: out


def test_joiners_leavers_and_staying():
    current = {"id-a": "in", "id-b": "in", "id-c": None, "id-d": "removed"}
    change = diff_scope(scope_members(TENANT, ["id-a", "id-c", "id-d"]), current)
    assert [p.object_id for p in change.joiners] == ["id-c", "id-d"]  # signed-in and returning
    assert change.leavers == ("id-b",)
    assert change.staying == ("id-a",)


def test_nobody_chosen_removes_everyone_in_and_touches_nobody_else():
    change = diff_scope({}, {"id-a": "in", "id-b": "removed", "id-c": None})
    assert change.joiners == () and change.staying == ()
    assert change.leavers == ("id-a",)  # already removed ones are not removed again


def test_a_second_identical_refresh_changes_nothing():
    members = scope_members(TENANT, ["id-a", "id-b"])
    first = diff_scope(members, {})
    after = {p.object_id: "in" for p in first.joiners}
    second = diff_scope(members, after)
    assert second.joiners == () and second.leavers == ()
    assert second.staying == ("id-a", "id-b")
