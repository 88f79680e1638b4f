"""POST /api/suggestions: participants with records and reasons, accounts, opportunities,
saved state, thread state, "why", the status line; and its answers to bad input."""

from __future__ import annotations

import pytest
from sqlalchemy import event

from .pane_fixtures import build_world, item


@pytest.fixture
def world(db):
    return build_world(db)


def _suggest(client, world, **overrides):
    response = client.post(
        "/api/suggestions", json={"item": item(**overrides)}, headers=world.headers
    )
    assert response.status_code == 200, response.get_json()
    return response.get_json()


def _participant(data, address):
    return next(p for p in data["participants"] if p["address"] == address)


def test_known_contact_with_account_and_opportunities(client, world):
    data = _suggest(client, world)
    alice = _participant(data, "alice@acme.test")
    assert alice["class"] == "matched"
    [candidate] = alice["candidates"]
    assert candidate["ref"] == {"type": "contact", "id": world.ids["alice"]}
    assert candidate["default"] is True
    assert candidate["account_name"] == "Acme Corp"
    # The user's own address is left out.
    assert [p["address"] for p in data["participants"]] == ["alice@acme.test"]
    assert [a["name"] for a in data["accounts"]] == ["Acme Corp"]
    names = [o["name"] for o in data["opportunities"]]
    assert names == ["Acme renewal", "Acme pilot"]  # open first
    assert data["opportunities"][0]["default"] is True
    assert data["opportunities"][0]["currency"] == "USD"  # CRM_CURRENCY's default
    assert data["saved"]["status"] is None
    assert data["thread"] == {"conversation_id": "conv-renewal", "auto_save": False, "links": []}
    assert data["item"]["key"] == "<renewal-1@acme.test>"
    assert data["status"]["user"]["email"] == "alex@courier-demo.test"
    assert data["status"]["crm"]["connected"] is True
    # Not saved, and the pane says why: the default auto-saves only threads switched on.
    assert data["why"]["kind"] == "not_saved"
    assert data["why"]["code"] == "auto_save_threads"
    assert "auto-save of all email is off" in data["why"]["message"]
    assert data["why"]["where"] == "my_settings"


def test_several_matches_show_all_with_the_reason_for_the_default(client, world):
    data = _suggest(client, world, **{"from": {"address": "SAM@acme.test", "name": "Sam"}})
    sam = _participant(data, "sam@acme.test")
    assert len(sam["candidates"]) == 2
    default = [c for c in sam["candidates"] if c["default"]]
    assert [c["ref"]["id"] for c in default] == [world.ids["sam_mine"]]
    assert default[0]["reason_text"] == "Owned by you"


def test_remembered_choice_becomes_the_default(client, world):
    response = client.post(
        "/api/choices",
        headers=world.headers,
        json={
            "address": "sam@acme.test",
            "record": {"type": "contact", "id": world.ids["sam_other"]},
        },
    )
    assert response.status_code == 201
    data = _suggest(client, world, **{"from": {"address": "sam@acme.test", "name": "Sam"}})
    default = [c for c in _participant(data, "sam@acme.test")["candidates"] if c["default"]]
    assert [c["ref"]["id"] for c in default] == [world.ids["sam_other"]]
    assert default[0]["reason_text"] == "Your earlier choice"


def test_classes_of_other_participants(client, world):
    data = _suggest(
        client,
        world,
        cc=[
            {"address": "bianca@courier-demo.test", "name": "Bianca"},
            {"address": "friend@gmail.com", "name": "A Friend"},
            {"address": "new.person@unknown-prospect.test", "name": ""},
            {"address": "not an address", "name": "Broken"},
            {"address": "lee@leadco.test", "name": "Lee"},
        ],
    )
    classes = {p["address"]: p["class"] for p in data["participants"]}
    assert classes["bianca@courier-demo.test"] == "internal"
    assert classes["friend@gmail.com"] == "personal"
    assert classes["new.person@unknown-prospect.test"] == "not_in_crm"
    assert classes["not an address"] == "invalid"
    assert classes["lee@leadco.test"] == "matched"
    unknown = _participant(data, "new.person@unknown-prospect.test")
    assert unknown["prefill"] == {
        "name": "New Person",
        "email": "new.person@unknown-prospect.test",
        "company": "Unknown Prospect",
    }
    lee = _participant(data, "lee@leadco.test")
    assert lee["candidates"][0]["ref"]["type"] == "lead"


def test_blocked_participant_is_shown_blocked_without_records(client, world):
    response = client.post("/api/blocklist", json={"entry": "acme.test"}, headers=world.headers)
    assert response.status_code == 201
    data = _suggest(client, world)
    alice = _participant(data, "alice@acme.test")
    assert alice["class"] == "blocked"
    assert alice["candidates"] == []
    assert data["why"]["code"] == "only_blocked"


def test_why_for_an_email_the_sync_skips(client, world):
    data = _suggest(client, world, **{"from": {"address": "bianca@courier-demo.test"}})
    assert data["why"]["code"] == "internal_only"
    assert data["why"]["kind"] == "screened"
    assert "internal" in data["why"]["message"]


def test_with_auto_save_all_a_matched_email_will_be_saved_by_the_sync(client, world):
    answer = client.put("/api/policy/me", json={"auto_save": "all"}, headers=world.headers)
    assert answer.status_code == 200, answer.get_json()
    data = _suggest(client, world)
    assert data["why"]["kind"] == "will_save"
    assert data["why"]["code"] == "auto_save_all"
    unknown = _suggest(client, world, **{"from": {"address": "new.person@unknown-prospect.test"}})
    assert unknown["why"]["code"] == "no_person_matched"


def test_auto_save_off_says_so_and_where_to_change_it(client, world):
    client.put("/api/policy/me", json={"auto_save": "off"}, headers=world.headers)
    data = _suggest(client, world)
    assert data["why"]["code"] == "auto_save_off"
    assert data["why"]["where"] == "my_settings"


def test_a_thread_switched_on_will_be_saved_by_the_sync(client, world):
    answer = client.put(
        "/api/threads",
        json={
            "conversation_id": "conv-renewal",
            "enabled": True,
            "links": [{"type": "contact", "id": world.ids["alice"]}],
        },
        headers=world.headers,
    )
    assert answer.status_code in (200, 201), answer.get_json()
    data = _suggest(client, world)
    assert data["why"]["kind"] == "will_save"
    assert data["why"]["code"] == "thread_auto_save"


def test_missing_message_id_gives_a_stable_fingerprint(client, world):
    first = _suggest(client, world, internet_message_id=None)
    again = _suggest(client, world, internet_message_id="")
    assert first["item"]["key"].startswith("fp:")
    assert first["item"]["key"] == again["item"]["key"]


def test_another_org_sees_only_its_own_records(client, world):
    response = client.post("/api/suggestions", json={"item": item()}, headers=world.other_headers)
    data = response.get_json()
    alice = _participant(data, "alice@acme.test")
    assert [c["ref"]["id"] for c in alice["candidates"]] == [world.ids["foreign_contact"]]


@pytest.mark.parametrize(
    ("payload", "status", "code"),
    [
        ({}, 400, "missing_field"),
        ({"item": "x"}, 400, "wrong_type"),
        ({"item": {"subject": "no sender"}}, 400, "missing_field"),
        ({"item": item(**{"from": {"address": "not-an-address"}})}, 400, "invalid_address"),
        ({"item": item(**{"from": {"address": 42}})}, 400, "wrong_type"),
        ({"item": item(to="alice@acme.test")}, 400, "wrong_type"),
        ({"item": item(to=[{"name": "no address"}])}, 400, "missing_field"),
        ({"item": item(subject=["list"])}, 400, "wrong_type"),
        ({"item": item(date="yesterday")}, 400, "invalid_date"),
        ({"item": item(subject="s" * 2001)}, 400, "too_long"),
        ({"item": item(body="b" * 200_001)}, 413, "too_large"),
        ({"item": item(to=[{"address": f"p{i}@x.test"} for i in range(1001)])}, 413, "too_large"),
    ],
)
def test_bad_input(client, world, payload, status, code):
    response = client.post("/api/suggestions", json=payload, headers=world.headers)
    assert response.status_code == status
    body = response.get_json()
    assert body["error"] == code and body["message"]


def test_oversize_body_is_refused_with_413(client, world, app):
    app.config["MAX_CONTENT_LENGTH"] = 10_000
    response = client.post(
        "/api/suggestions", json={"item": item(body="x" * 20_000)}, headers=world.headers
    )
    assert response.status_code == 413
    assert response.get_json()["error"]


def test_not_json_and_unauthenticated(client, world):
    assert client.post("/api/suggestions", data="x", headers=world.headers).status_code == 415
    response = client.post("/api/suggestions", json={"item": item()})
    assert response.status_code == 401
    assert response.get_json()["error"] == "unauthorized"
    bad = {"Authorization": "Bearer cs_not-a-session"}
    assert client.post("/api/suggestions", json={"item": item()}, headers=bad).status_code == 401


def test_a_suggestion_reads_the_policy_in_one_statement(client, world, db):
    """Every selection in the pane pays for these: the session (one statement), the policy
    (the organisation's settings, locks and domains with the user's own settings in one; the
    colleagues in another), the CRM look-ups (people, opportunities), the saved state and the
    thread rule. bench/pane.py holds the time; this holds the count."""
    _suggest(client, world)  # warm: nothing below depends on what it loaded
    statements: list[str] = []

    def listen(conn, cursor, statement, *args):
        statements.append(" ".join(statement.split()))

    db.close()  # a request of its own starts with an empty session
    event.listen(db.get_bind(), "before_cursor_execute", listen)
    try:
        _suggest(client, world)
    finally:
        event.remove(db.get_bind(), "before_cursor_execute", listen)
    policy = [s for s in statements if "org_policies" in s or "user_policies" in s]
    assert len(policy) == 1, policy
    assert "org_domains" in policy[0]
    assert sum("org_domains" in s for s in statements) == 1, statements
    assert len(statements) == 7, statements
