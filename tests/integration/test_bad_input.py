"""Bad input gets a 4xx with the JSON error shape — never a 500 — and changes nothing: the
saved items, thread rules, choices and settings are the same afterwards (every table of the
database is compared). The guard is one place, server/request_guard.py."""

from __future__ import annotations

import json
from typing import Any

import pytest
from sqlalchemy import select

from server.db import Base

from .pane_fixtures import build_world, item

DEEP = 5_000
# Every endpoint that reads a JSON body, with a valid-looking path for it.
JSON_ENDPOINTS = [
    ("post", "/api/suggestions"),
    ("post", "/api/saves"),
    ("post", "/api/saves/state"),
    ("put", "/api/threads"),
    ("post", "/api/blocklist"),
    ("post", "/api/choices"),
    ("post", "/api/cards"),
    ("post", "/api/saves/unlink"),
    ("post", "/api/saves/remove"),
    ("post", "/api/contacts"),
    ("post", "/api/leads"),
    ("put", "/api/policy/me"),
    ("post", "/api/policy/me/preview"),
    ("delete", "/api/policy/me/blocklist"),
    ("put", "/api/policy/org"),
    ("post", "/api/policy/org/preview"),
    ("post", "/auth/api/exchange"),
    ("post", "/api/graph/notifications"),
    ("post", "/api/graph/lifecycle"),
    ("post", "/api/crm/salesforce/connect"),
]
NOT_OBJECTS = ["[1]", '"x"', "true", "null", "42", "[]"]


@pytest.fixture
def app_config(sandbox):
    """The sandbox stands in for Microsoft, so the sign-in pages run their whole path."""
    return sandbox.settings()


@pytest.fixture
def world(db, client):
    """The pane world with data worth losing: a saved email, a thread rule, a remembered
    choice, user and organisation settings. The user is an admin, so the org endpoints read
    their bodies too."""
    world = build_world(db)
    world.user.role = "admin"
    db.commit()
    h = world.headers
    links = [{"type": "contact", "id": world.ids["alice"]}]
    assert (
        client.post("/api/saves", json={"item": item(), "links": links}, headers=h).status_code
        == 201
    )
    thread = {"conversation_id": "conv-renewal", "enabled": True, "links": links}
    assert client.put("/api/threads", json=thread, headers=h).status_code == 200
    choice = {
        "address": "sam@acme.test",
        "record": {"type": "contact", "id": world.ids["sam_mine"]},
    }
    assert client.post("/api/choices", json=choice, headers=h).status_code == 201
    assert client.post("/api/blocklist", json={"entry": "spam.test"}, headers=h).status_code == 201
    org = {"blocked_domains": ["junk.test"]}
    assert client.put("/api/policy/org", json=org, headers=h).status_code == 200
    return world


def snapshot(db) -> dict[str, list[tuple]]:
    """Every row of every table, as text (order-independent)."""
    db.expire_all()
    return {
        table.name: sorted(repr(tuple(row)) for row in db.execute(select(table)).all())
        for table in Base.metadata.sorted_tables
    }


def assert_refused(response, status: int = 400) -> dict[str, Any]:
    assert response.status_code == status, (response.status_code, response.data[:300])
    body = response.get_json()
    assert isinstance(body, dict) and set(body) >= {"error", "message"}, body
    assert isinstance(body["error"], str) and isinstance(body["message"], str)
    return body


def _send(client, method: str, path: str, raw: str | bytes, headers: dict):
    return client.open(
        path, method=method.upper(), data=raw, content_type="application/json", headers=headers
    )


def test_the_world_has_something_to_lose(world, db):
    rows = snapshot(db)
    for table in ("ledger", "thread_rules", "crm_activities", "remembered_choices", "org_policies"):
        assert rows.get(table), f"nothing saved in {table}"


def test_a_body_nested_5000_levels_is_refused_everywhere(client, world, db):
    before = snapshot(db)
    deep_bodies = ("[" * DEEP + "]" * DEEP, '{"a":' * DEEP + "1" + "}" * DEEP)
    # Deep but well under Python's recursion limit: refused by our own depth limit.
    medium = '{"item":' + '{"a":' * 100 + "1" + "}" * 100 + "}"
    for method, path in JSON_ENDPOINTS:
        for deep in deep_bodies:
            body = assert_refused(_send(client, method, path, deep, world.headers))
            assert body["error"] in ("too_deep", "invalid_json"), path
        body = assert_refused(_send(client, method, path, medium, world.headers))
        assert body["error"] == "too_deep", path
    assert snapshot(db) == before


def test_a_body_that_is_not_an_object_is_refused_everywhere(client, world, db):
    before = snapshot(db)
    for method, path in JSON_ENDPOINTS:
        for raw in NOT_OBJECTS:
            body = assert_refused(_send(client, method, path, raw, world.headers))
            assert body["error"] == "invalid_json", (path, raw)
    assert snapshot(db) == before


@pytest.mark.parametrize(
    "path",
    [
        "/auth/api/exchange",
        "/api/graph/notifications",
        "/api/graph/lifecycle",
        "/api/crm/salesforce/connect",
    ],
)
@pytest.mark.parametrize("raw", ["[1]", '"x"', "true"])
def test_the_reported_non_object_bodies_without_a_token(client, world, db, path, raw):
    # As reported: no sign-in needed for the first three; the last answers 401 first.
    before = snapshot(db)
    response = _send(client, "post", path, raw, {})
    expected = 401 if path.startswith("/api/crm/") else 400
    assert_refused(response, expected)
    assert snapshot(db) == before


def test_invalid_json_and_invalid_utf8_are_refused(client, world, db):
    before = snapshot(db)
    for raw in (b"{", b'{"a": }', b'{"conversation_id": "\xff\xfe"}', b"\x00"):
        assert_refused(_send(client, "put", "/api/threads", raw, world.headers))
    assert snapshot(db) == before


@pytest.mark.parametrize(
    "value",
    ["\ud800", "conv-\udfff-renewal", "ok\x00nul"],
    ids=["lone-high-surrogate", "lone-low-surrogate", "nul"],
)
def test_unstorable_strings_in_put_threads_are_refused(client, world, db, value):
    before = snapshot(db)
    body = {"conversation_id": value, "enabled": False, "links": []}
    # json.dumps writes lone surrogates and NUL as \\u escapes, as an attacker would.
    raw = json.dumps(body)
    assert "\\ud8" in raw or "\\udf" in raw or "\\u0000" in raw
    assert assert_refused(_send(client, "put", "/api/threads", raw, world.headers))["error"] == (
        "invalid_string"
    )
    assert snapshot(db) == before


def test_unstorable_strings_as_keys_and_deep_inside_are_refused(client, world, db):
    before = snapshot(db)
    in_key = '{"item": {"\\ud800": 1}}'
    in_item = json.dumps({"item": item(subject="\udc00 hi"), "links": []})
    for path, raw in (("/api/suggestions", in_key), ("/api/saves", in_item)):
        assert_refused(_send(client, "post", path, raw, world.headers))
    assert snapshot(db) == before


@pytest.mark.parametrize(
    ("path", "method", "body"),
    [
        ("/api/threads", "put", {"conversation_id": "conv\r\nX-Injected: 1", "enabled": True}),
        ("/api/threads", "put", {"conversation_id": "conv\tid", "enabled": True}),
        ("/api/blocklist", "post", {"entry": "spam\n.test"}),
        ("/api/leads", "post", {"name": "Eve\x07", "email": "eve@evil.test"}),
        ("/api/leads", "post", {"name": "Eve", "email": "eve@evil.test\r\n"}),
        (
            "/api/choices",
            "post",
            {"address": "a@b.test", "record": {"type": "contact", "id": "1\n"}},
        ),
        ("/api/saves/state", "post", {"item": item(item_id="AAMk\x1b[31m")}),
        ("/api/saves/state", "post", {"item": item(internet_message_id="<a@b>\r\n")}),
    ],
)
def test_control_characters_where_they_cannot_be(client, world, db, path, method, body):
    before = snapshot(db)
    response = _send(client, method, path, json.dumps(body), world.headers)
    assert assert_refused(response)["error"] in ("invalid_string", "invalid_address")
    assert snapshot(db) == before


def test_line_breaks_stay_allowed_in_an_email_body(client, world):
    answer = client.post(
        "/api/saves/state",
        json={"item": item(body="Hello,\r\n\tregards\x0c")},
        headers=world.headers,
    )
    assert answer.status_code == 200


@pytest.mark.parametrize(
    "path", ["/api/search?q=ab%00cd", "/api/search?q%00=abc", "/crm/accounts?q=%00"]
)
def test_nul_in_the_query_string_is_refused(client, world, db, path):
    before = snapshot(db)
    assert_refused(client.get(path, headers={**world.headers, "Accept": "application/json"}))
    assert snapshot(db) == before


def test_bodiless_and_tokenless_api_calls_answer_401_not_403(client, world, db):
    before = snapshot(db)
    for method, path in JSON_ENDPOINTS:
        if path.startswith(("/auth/api/exchange", "/api/graph/")):
            continue  # no sign-in needed there
        response = client.open(path, method=method.upper())
        assert_refused(response, 401)
        form = client.open(path, method=method.upper(), data={"a": "b"})
        assert_refused(form, 401)
    assert snapshot(db) == before


@pytest.mark.parametrize("path", ["/api/graph/notifications", "/api/graph/lifecycle"])
@pytest.mark.parametrize("value", [{"a": 1}, 5, "text", [1, "x", None, []]])
def test_graph_notifications_with_a_strange_value_are_ignored(client, world, db, path, value):
    # Graph posts {"value": [notification, ...]}; anything else carries no notification.
    before = snapshot(db)
    response = client.post(path, json={"value": value})
    assert response.status_code == 202
    assert snapshot(db) == before


def test_non_ascii_state_and_csrf_token_are_refused_not_crashed(client, world, db):
    before = snapshot(db)
    with client.session_transaction() as browser:
        browser["signin_state"] = "expected-state"
        browser["csrf_token"] = "expected-token"
    callback = client.get("/auth/callback?state=%C3%A9t%C3%A9&code=x")
    assert callback.status_code == 400
    signout = client.post("/auth/signout", data={"csrf_token": "jeton-\u00e9"})
    assert signout.status_code == 403 and signout.json["error"] == "csrf_failed"
    assert snapshot(db) == before


ODD_PAGE_REQUESTS = [
    "/auth/signin?login_hint=%C3%A9%0d%0aX:%201&mode=%00dialog",
    "/auth/signin?next=%ED%A0%80",  # an encoded lone surrogate: decoded with replacement
    "/auth/callback?state=&code=",
    "/auth/callback?error=%0d%0a",
    "/crm/salesforce/dialog?state=%C3%A9%0a",
    "/crm/salesforce/callback?state=%C3%A9&code=%0d%0a",
    "/crm/contacts?page=%D9%A1%D9%A2&sort=%0a&q=" + "x" * 5000,
    "/crm/contact/99999999999999999999999",
    "/addin/..%2f..%2fserver%2fconfig.py",
    "/addin/%00",
    "/preview?user=%ff%fe",
    "/api/search?q=%ED%A0%80%ED%A0%80",
]


@pytest.mark.parametrize("path", ODD_PAGE_REQUESTS)
def test_odd_query_strings_on_pages_never_crash(client, world, db, path):
    before = snapshot(db)
    response = client.get(path, headers=world.headers)
    assert response.status_code < 500, (path, response.status_code, response.data[:300])
    assert snapshot(db) == before
