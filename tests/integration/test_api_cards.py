"""POST /api/cards: the card per person, scoped to the user's organisation, bad input → 4xx."""

from __future__ import annotations

import pytest

from .pane_fixtures import build_world


@pytest.fixture
def world(db):
    return build_world(db)


def _cards(client, world, people, other=False):
    headers = world.other_headers if other else world.headers
    return client.post("/api/cards", json={"people": people}, headers=headers)


def test_cards_of_a_contact_and_a_lead(client, world):
    ids = world.ids
    answer = _cards(
        client,
        world,
        [{"type": "contact", "id": ids["alice"]}, {"type": "lead", "id": ids["lee"]}],
    )
    assert answer.status_code == 200, answer.get_json()
    alice, lee = answer.get_json()["cards"]
    assert alice["name"] == "Alice Archer" and alice["owner"] == "Alex Morgan"
    assert alice["owned_by_you"] and alice["account"] == {"id": ids["acme"], "name": "Acme Corp"}
    assert [o["name"] for o in alice["open"]] == ["Acme renewal"]
    assert [o["name"] for o in alice["closed"]] == ["Acme pilot"]
    assert alice["open"][0]["currency"] == "USD" and alice["open"][0]["amount"] == 48000
    assert alice["url"].endswith(f"/crm/contact/{ids['alice']}")
    assert alice["url"].startswith("http")
    assert lee["account"] == {"id": None, "name": "LeadCo"} and lee["open"] == []


def test_another_organisations_person_has_no_card(client, world):
    theirs = _cards(client, world, [{"type": "contact", "id": world.ids["foreign_contact"]}])
    assert theirs.status_code == 200 and theirs.get_json() == {"cards": []}
    ours_for_them = _cards(
        client, world, [{"type": "contact", "id": world.ids["alice"]}], other=True
    )
    assert ours_for_them.get_json() == {"cards": []}


@pytest.mark.parametrize(
    ("people", "status", "code"),
    [
        ([{"type": "account", "id": "1"}], 400, "invalid_record_type"),
        ([{"type": "contact"}], 400, None),
        ("x", 400, "wrong_type"),
        ([{"type": "contact", "id": str(n)} for n in range(1, 60)], 413, "too_large"),
    ],
)
def test_bad_card_requests(client, world, people, status, code):
    answer = _cards(client, world, people)
    assert answer.status_code == status, answer.get_json()
    if code:
        assert answer.get_json()["error"] == code
