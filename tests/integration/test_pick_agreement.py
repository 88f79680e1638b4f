"""The pane's suggestions and the background sync's decision agree on the same email: both
call one look-up (picks.gather) and one pure function (rules.picking.pick). Table-driven over
the cases where the two copies used to differ: remembered picks, matching by domain, the
opportunity rule switched off, and what auto-save leaves unsaved."""

from __future__ import annotations

import pytest

from server.crm import crm_for
from server.db import get_session
from server.pane.items import parse_item
from server.policy import (
    effective_policy,
    remembered_choices,
    update_org_policy,
    update_user_policy,
)
from server.rules.screening import screen
from server.sync.page import PageResult
from server.sync.pipeline import Pipeline

from .pane_fixtures import build_world, item

ALICE = {"address": "alice@acme.test", "name": "Alice Archer"}
SAM = {"address": "sam@acme.test", "name": "Sam"}
LEE = {"address": "lee@leadco.test", "name": "Lee"}
BOB = {"address": "bob@acme.test", "name": "Bob (not in the CRM)"}
NOBODY = {"address": "zed@nowhere.test", "name": "Zed"}

TYPES = {
    "acme": "account",
    "renewal": "opportunity",
    "alice": "contact",
    "sam_mine": "contact",
    "sam_other": "contact",
    "lee": "lead",
}
# (case, email overrides, user settings, org settings, remembered, expected defaults or None
# when auto-save does not save it, as world id names)
CASES = [
    (
        "one contact, owned open opportunity",
        {"from": ALICE},
        {},
        {},
        None,
        {"alice", "renewal", "acme"},
    ),
    ("two candidates: the owned one", {"from": SAM}, {}, {}, None, {"sam_mine", "renewal", "acme"}),
    (
        "two candidates: the remembered one",
        {"from": SAM},
        {},
        {},
        "sam_other",
        {"sam_other", "renewal", "acme"},
    ),
    (
        "opportunity rule off",
        {"from": ALICE},
        {"link_to_opportunities": False},
        {},
        None,
        {"alice", "acme"},
    ),
    (
        "a person and a colleague of theirs matched by domain",
        {"from": ALICE, "cc": [BOB]},
        {},
        {"match_by_domain": True},
        None,
        {"alice", "renewal", "acme"},
    ),
    (
        "matched by domain only: no person, so auto-save leaves it",
        {"from": BOB},
        {},
        {"match_by_domain": True},
        None,
        None,
    ),
    (
        # The copies used to differ here: the sync knew no domain matching, so it dropped it.
        "a lead and someone matched by domain: the domain's account",
        {"from": LEE, "cc": [BOB]},
        {},
        {"match_by_domain": True},
        None,
        {"lee", "acme"},
    ),
    ("a lead without an account: nowhere to put it", {"from": LEE}, {}, {}, None, None),
    ("nobody in the CRM", {"from": NOBODY}, {}, {}, None, None),
]


@pytest.fixture
def world(db):
    return build_world(db)


def _pane_defaults(client, world, email: dict) -> set[tuple[str, str]]:
    answer = client.post("/api/suggestions", json={"item": email}, headers=world.headers)
    assert answer.status_code == 200, answer.get_json()
    data = answer.get_json()
    out = {
        (c["ref"]["type"], c["ref"]["id"])
        for p in data["participants"]
        for c in p["candidates"]
        if c["default"]
    }
    for record in [*data["accounts"], *data["opportunities"]]:
        if record["default"]:
            out.add((record["ref"]["type"], record["ref"]["id"]))
    return out


def _sync_links(world, email: dict) -> set[tuple[str, str]] | None:
    user = world.user
    message = parse_item(email).message
    policy = effective_policy(user)
    pipeline = Pipeline(
        get_session(),
        user,
        crm_for(user),
        policy,
        remembered_choices,
    )
    decision = screen(message, policy)
    assert decision.keep, decision.reason
    lookups = pipeline._lookups([decision], opportunities=True)
    plan = pipeline._plan_message(message, decision, "<key>", lookups, {}, PageResult())
    return None if plan is None else {(k.ref.type, k.ref.id) for k in plan.draft.links}


@pytest.mark.parametrize(
    ("overrides", "settings", "org_settings", "remembered", "expected"),
    [case[1:] for case in CASES],
    ids=[case[0] for case in CASES],
)
def test_the_pane_and_the_sync_pick_the_same_records(
    client, db, world, overrides, settings, org_settings, remembered, expected
):
    update_user_policy(world.user, {"auto_save": "all", **settings})
    if org_settings:
        update_org_policy(world.user.org_id, org_settings, None)
    if remembered:
        answer = client.post(
            "/api/choices",
            headers=world.headers,
            json={
                "address": SAM["address"],
                "record": {"type": "contact", "id": world.ids[remembered]},
            },
        )
        assert answer.status_code == 201
    email = item(**overrides)
    pane = _pane_defaults(client, world, email)
    sync = _sync_links(world, email)
    if expected is None:
        assert sync is None  # auto-save leaves it; the pane still shows what it would tick
        return
    assert sync == pane
    assert sync == {(TYPES[name], world.ids[name]) for name in expected}
