"""Blocklist, remembered choices, create contact/lead, search: behaviour and bad input."""

from __future__ import annotations

import pytest
from sqlalchemy import select

from server.crm.builtin.models import CrmContact, CrmLead
from server.models.policy import RememberedChoice, UserPolicy

from .pane_fixtures import build_world, item


@pytest.fixture
def world(db):
    return build_world(db)


def _post(client, world, path, body, other=False):
    return client.post(path, json=body, headers=world.other_headers if other else world.headers)


# --- blocklist -------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("entry", "kind", "value"),
    [
        ("Alice@Acme.test", "blocked_addresses", "alice@acme.test"),
        ("acme.test", "blocked_domains", "acme.test"),
        ("@acme.test", "blocked_domains", "acme.test"),
    ],
)
def test_blocklist_adds_address_or_domain(client, world, db, entry, kind, value):
    response = _post(client, world, "/api/blocklist", {"entry": entry})
    assert response.status_code == 201
    assert response.get_json() == {"list": kind, "entry": value}
    settings = db.scalar(select(UserPolicy).where(UserPolicy.user_id == world.user.id)).settings
    assert settings[kind] == [value]


@pytest.mark.parametrize(
    ("body", "status", "code"),
    [
        ({}, 400, "missing_field"),
        ({"entry": 7}, 400, "wrong_type"),
        ({"entry": "   "}, 400, "missing_field"),
        ({"entry": "x" * 321}, 400, "too_long"),
        ({"entry": "not an address@@"}, 400, "invalid_policy"),
        ({"entry": "alex@courier-demo.test"}, 400, "invalid_policy"),
    ],
)
def test_blocklist_bad_input(client, world, body, status, code):
    response = _post(client, world, "/api/blocklist", body)
    assert response.status_code == status
    assert response.get_json()["error"] == code


# --- remembered choice ---------------------------------------------------------------------


def test_choice_is_stored(client, world, db):
    body = {"address": "Sam@acme.test", "record": {"type": "contact", "id": world.ids["sam_other"]}}
    response = _post(client, world, "/api/choices", body)
    assert response.status_code == 201
    row = db.scalar(select(RememberedChoice))
    assert (row.address, row.record_type, row.record_id) == (
        "sam@acme.test",
        "contact",
        world.ids["sam_other"],
    )


@pytest.mark.parametrize(
    ("body", "status", "code"),
    [
        ({"record": {"type": "contact", "id": "1"}}, 400, "missing_field"),
        ({"address": "nope", "record": {"type": "contact", "id": "1"}}, 400, "invalid_address"),
        ({"address": "a@b.test", "record": "contact:1"}, 400, "wrong_type"),
        (
            {"address": "a@b.test", "record": {"type": "opportunity", "id": "1"}},
            400,
            "invalid_record_type",
        ),
        (
            {"address": "a@b.test", "record": {"type": "contact", "id": "98765"}},
            404,
            "unknown_record",
        ),
    ],
)
def test_choice_bad_input(client, world, body, status, code):
    response = _post(client, world, "/api/choices", body)
    assert response.status_code == status
    assert response.get_json()["error"] == code


def test_choice_of_another_orgs_record_is_not_found(client, world):
    body = {
        "address": "alice@acme.test",
        "record": {"type": "contact", "id": world.ids["foreign_contact"]},
    }
    assert _post(client, world, "/api/choices", body).status_code == 404


# --- create contact / lead -----------------------------------------------------------------


def test_create_lead_then_it_is_the_pick(client, world, db):
    body = {"name": "Nora New", "email": "Nora@Unknown-Prospect.test", "company": "Prospect Ltd"}
    response = _post(client, world, "/api/leads", body)
    assert response.status_code == 201
    created = response.get_json()
    assert created["ref"]["type"] == "lead" and created["name"] == "Nora New"
    lead = db.scalar(select(CrmLead).where(CrmLead.email == "nora@unknown-prospect.test"))
    assert (lead.company, lead.owner_id, lead.org_id) == (
        "Prospect Ltd",
        str(world.user.id),
        world.user.org_id,
    )
    shown = _post(
        client,
        world,
        "/api/suggestions",
        {"item": item(**{"from": {"address": "nora@unknown-prospect.test", "name": "Nora New"}})},
    ).get_json()
    nora = shown["participants"][0]
    assert nora["class"] == "matched"
    assert nora["candidates"][0]["ref"] == created["ref"]
    assert nora["candidates"][0]["default"] is True


def test_create_contact_joins_the_account_of_its_domain(client, world, db):
    response = _post(client, world, "/api/contacts", {"name": "Ann New", "email": "ann@acme.test"})
    assert response.status_code == 201
    contact = db.scalar(select(CrmContact).where(CrmContact.name == "Ann New"))
    assert str(contact.account_id) == world.ids["acme"]


def test_create_contact_with_another_orgs_account_is_not_found(client, world):
    body = {"name": "X", "email": "x@acme.test", "account_id": world.ids["foreign_account"]}
    response = _post(client, world, "/api/contacts", body)
    assert response.status_code == 404
    assert response.get_json()["error"] == "unknown_record"


@pytest.mark.parametrize("path", ["/api/contacts", "/api/leads"])
@pytest.mark.parametrize(
    ("body", "status", "code"),
    [
        ({"email": "a@b.test"}, 400, "missing_field"),
        ({"name": "A"}, 400, "missing_field"),
        ({"name": "  ", "email": "a@b.test"}, 400, "missing_field"),
        ({"name": ["A"], "email": "a@b.test"}, 400, "wrong_type"),
        ({"name": "A", "email": "a at b"}, 400, "invalid_address"),
        ({"name": "A" * 256, "email": "a@b.test"}, 400, "too_long"),
        ({"name": "A", "email": "a@b.test", "company": 3}, 400, "wrong_type"),
    ],
)
def test_create_bad_input(client, world, path, body, status, code):
    response = _post(client, world, path, body)
    assert response.status_code == status
    assert response.get_json()["error"] == code


def test_create_contact_unknown_account(client, world):
    body = {"name": "A", "email": "a@b.test", "account_id": "55555"}
    assert _post(client, world, "/api/contacts", body).status_code == 404


# --- search ----------------------------------------------------------------------------------


def test_search_finds_records_of_the_own_org_only(client, world):
    response = client.get("/api/search?q=acme", headers=world.headers)
    assert response.status_code == 200
    names = {r["name"] for r in response.get_json()["results"]}
    assert "Acme Corp" in names and "Foreign Person" not in names
    other = client.get("/api/search?q=Foreign", headers=world.other_headers).get_json()
    assert [r["name"] for r in other["results"]] == ["Foreign Person"]


@pytest.mark.parametrize(
    ("query", "code"), [("", "query_too_short"), ("a", "query_too_short"), ("x" * 101, "too_long")]
)
def test_search_bad_input(client, world, query, code):
    response = client.get(f"/api/search?q={query}", headers=world.headers)
    assert response.status_code == 400
    assert response.get_json()["error"] == code


def test_every_endpoint_needs_a_session(client, world):
    for method, path in [
        ("post", "/api/blocklist"),
        ("post", "/api/choices"),
        ("post", "/api/contacts"),
        ("post", "/api/leads"),
        ("get", "/api/search?q=ac"),
        ("post", "/api/saves"),
        ("put", "/api/threads"),
        ("post", "/api/saves/state"),
        ("get", "/api/ping"),
    ]:
        response = getattr(client, method)(path, json={})
        assert response.status_code == 401, path
        assert response.get_json()["error"] == "unauthorized"


JSON_ENDPOINTS = [
    ("post", "/api/suggestions"),
    ("post", "/api/saves"),
    ("post", "/api/saves/state"),
    ("put", "/api/threads"),
    ("post", "/api/blocklist"),
    ("post", "/api/choices"),
    ("post", "/api/contacts"),
    ("post", "/api/leads"),
]


@pytest.mark.parametrize(("method", "path"), JSON_ENDPOINTS)
def test_every_json_endpoint_refuses_bad_bodies(client, world, app, method, path):
    send = getattr(client, method)
    not_json = send(path, data="entry=x", headers=world.headers)
    assert not_json.status_code == 415 and not_json.get_json()["error"]
    broken = send(
        path, data="{not json", headers={**world.headers, "Content-Type": "application/json"}
    )
    assert broken.status_code == 400 and broken.get_json()["error"] == "invalid_json"
    array = send(path, json=["not", "an", "object"], headers=world.headers)
    assert array.status_code == 400 and array.get_json()["error"] == "invalid_json"
    app.config["MAX_CONTENT_LENGTH"] = 2_000
    huge = send(path, json={"entry": "x" * 5_000}, headers=world.headers)
    assert huge.status_code == 413 and huge.get_json()["error"]


@pytest.mark.parametrize(
    ("body", "status", "code"),
    [
        ({}, 400, "missing_field"),
        ({"item": []}, 400, "wrong_type"),
        ({"item": item(**{"from": {"address": "nobody"}})}, 400, "invalid_address"),
        ({"item": item(internet_message_id=5)}, 400, "wrong_type"),
    ],
)
def test_saved_state_bad_input(client, world, body, status, code):
    response = _post(client, world, "/api/saves/state", body)
    assert response.status_code == status
    assert response.get_json()["error"] == code
