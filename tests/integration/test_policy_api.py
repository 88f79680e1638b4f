"""The policy JSON endpoints: admins change the organisation's rules, users their own; one
error shape; changes apply to the next effective_policy without signing in again."""

from __future__ import annotations

import pytest

from server.auth.sessions import issue_session
from server.models.ledger import LedgerEntry
from server.models.tenancy import Organisation, OrgDomain, User
from server.policy import effective_policy


@pytest.fixture
def people(db):
    org = Organisation(tenant_id="tenant-a", name="Acme")
    org.domains.append(OrgDomain(domain="acme-corp.com"))
    db.add(org)
    db.commit()
    admin = User(
        org_id=org.id, tenant_id="tenant-a", object_id="o1", email="ann@acme-corp.com", role="admin"
    )
    user = User(org_id=org.id, tenant_id="tenant-a", object_id="o2", email="bo@acme-corp.com")
    db.add_all([admin, user])
    db.commit()
    return org, admin, user


def auth(user: User) -> dict[str, str]:
    return {"Authorization": f"Bearer {issue_session(user)}"}


def test_admin_reads_and_changes_the_org_policy(client, people):
    org, admin, user = people
    got = client.get("/api/policy/org", headers=auth(admin))
    assert got.status_code == 200
    body = got.get_json()
    assert body["settings"] == {}
    assert body["effective"]["internal_domains"] == ["acme-corp.com"]
    assert body["catalogue"]["history_days"] == {
        "kind": "int",
        "level": "user",
        "merge": "override",
        "min": 1,
        "max": 180,
    }
    put = client.put(
        "/api/policy/org",
        headers=auth(admin),
        json={"subject_keywords": ["Payslip"], "auto_save": "all"},
    )
    assert put.status_code == 200
    assert put.get_json()["settings"] == {"subject_keywords": ["payslip"], "auto_save": "all"}
    assert effective_policy(user).subject_keywords == ("payslip",)


def test_bad_settings_get_the_json_error_shape(client, people):
    _org, admin, _user = people
    res = client.put(
        "/api/policy/org", headers=auth(admin), json={"blocked_domains": ["bad domain"]}
    )
    assert res.status_code == 400
    body = res.get_json()
    assert body["error"] == "invalid_policy"
    assert body["message"] == 'blocked_domains: "bad domain" contains spaces or control characters'
    assert body["details"]["errors"] == {"blocked_domains": body["message"]}


def test_users_cannot_touch_the_org_policy(client, people):
    _org, _admin, user = people
    assert client.get("/api/policy/org", headers=auth(user)).status_code == 403
    assert client.put("/api/policy/org", headers=auth(user), json={}).status_code == 403


def test_no_token_no_policy(client, people):
    # A test of its own: the test app context (and so flask.g) outlives each request.
    res = client.get("/api/policy/org")
    assert res.status_code == 401 and res.get_json()["error"] == "unauthorized"
    assert client.get("/api/policy/me").status_code == 401


def test_users_change_their_own_settings(client, people):
    _org, _admin, user = people
    res = client.put(
        "/api/policy/me",
        headers=auth(user),
        json={"auto_save": "off", "blocked_domains": ["spam.com"]},
    )
    assert res.status_code == 200
    body = res.get_json()
    assert body["settings"] == {"auto_save": "off", "blocked_domains": ["spam.com"]}
    assert body["effective"]["auto_save"] == "off"
    assert "internal_domains" not in body["catalogue"]
    denied = client.put("/api/policy/me", headers=auth(user), json={"match_by_domain": True})
    assert denied.status_code == 400
    removed = client.delete(
        "/api/policy/me/blocklist", headers=auth(user), json={"entry": "spam.com"}
    )
    assert removed.get_json() == {"removed": True}
    assert (
        client.get("/api/policy/me", headers=auth(user)).get_json()["effective"]["blocked_domains"]
        == []
    )


def test_previews(client, db, people):
    org, admin, user = people
    db.add(
        LedgerEntry(
            org_id=org.id,
            item_key="k1",
            kind="email",
            crm_target="builtin",
            user_id=user.id,
            status="saved",
            subject="Hi",
            participants=["bo@acme-corp.com", "jane@customer.com"],
        )
    )
    db.commit()
    res = client.post(
        "/api/policy/org/preview",
        headers=auth(admin),
        json={"changes": {"excluded_domains": ["customer.com"]}},
    )
    assert res.status_code == 200
    assert res.get_json()["would_skip"] == 1
    mine = client.post(
        "/api/policy/me/preview",
        headers=auth(user),
        json={"changes": {"blocked_addresses": ["jane@customer.com"]}},
    )
    assert mine.get_json()["by_reason"] == {"only_blocked": 1}
    assert client.post("/api/policy/org/preview", headers=auth(user), json={}).status_code == 403
    bad = client.post("/api/policy/me/preview", headers=auth(user), data="nope")
    assert bad.status_code == 400 and bad.get_json()["error"] == "invalid_json"


def test_org_policy_changes_through_the_api_are_audited(client, people, db):
    from sqlalchemy import select

    from server.models.admin import AuditEvent

    _org, admin, _user = people
    client.put("/api/policy/org", headers=auth(admin), json={"history_days": 60})
    client.put("/api/policy/org", headers=auth(admin), json={"history_days": 90})
    bad = client.put("/api/policy/org", headers=auth(admin), json={"history_days": 0})
    assert bad.status_code == 400
    events = db.scalars(select(AuditEvent).order_by(AuditEvent.id)).all()
    assert [(e.before, e.after) for e in events] == [
        ({"settings": {"history_days": None}}, {"settings": {"history_days": 60}}),
        ({"settings": {"history_days": 60}}, {"settings": {"history_days": 90}}),
    ]
    assert {e.actor for e in events} == {admin.email}
