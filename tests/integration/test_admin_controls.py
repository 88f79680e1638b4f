"""Data controls in the console: the form with messages beside fields, the confirmation with
its diff and rule preview, the save (audited), and locks honoured by the policy API."""

from __future__ import annotations

import json
import re
from html import unescape

import pytest
from sqlalchemy import select

from server.models.admin import AuditEvent
from server.models.ledger import LedgerEntry
from server.models.tenancy import User
from server.policy import effective_policy, org_settings
from server.sandbox.directory import DEMO_USERS
from tests.integration.admin_helpers import csrf, web_sign_in
from tests.integration.signin_helpers import sign_in_for_token

ALEX, BIANCA = DEMO_USERS[0], DEMO_USERS[1]


@pytest.fixture
def app_config(sandbox):
    return sandbox.settings()


@pytest.fixture
def admin_client(app, sandbox):
    client = app.test_client()
    assert web_sign_in(client, sandbox, ALEX).status_code == 302
    return client


def form_values(client) -> dict:
    """The form as the browser would submit it unchanged."""
    page = client.get("/admin/controls").get_data(as_text=True)
    values: dict = {"csrf_token": csrf(client)}
    for name, body in re.findall(r'<textarea name="([^"]+)"[^>]*>(.*?)</textarea>', page, re.S):
        values[name] = unescape(body)
    for name, value in re.findall(r'<input type="number" name="([^"]+)"[^>]*value="([^"]*)"', page):
        values[name] = value
    for tag in re.findall(r'<input type="checkbox" name="[^"]+"[^>]*>', page):
        name = re.search(r'name="([^"]+)"', tag).group(1)
        if " checked" in tag:
            values[name] = "on"
    for name, options in re.findall(r'<select name="([^"]+)"[^>]*>(.*?)</select>', page, re.S):
        values[name] = re.search(r"<option selected>([^<]+)<", options).group(1)
    return values


def saved_item(db, user: User, subject: str) -> None:
    db.add(
        LedgerEntry(
            org_id=user.org_id,
            item_key=f"<{subject}@test>",
            kind="email",
            crm_target="builtin",
            user_id=user.id,
            status="saved",
            source="auto",
            subject=subject,
            participants=[user.email, "buyer@customer-example.com"],
        )
    )
    db.commit()


def test_invalid_entries_get_messages_beside_their_fields(admin_client, db):
    values = form_values(admin_client)
    values["blocked_domains"] = "example.com\nnot a domain"
    values["history_days"] = "999"
    answer = admin_client.post("/admin/controls/preview", data=values)
    assert answer.status_code == 400
    page = answer.get_data(as_text=True)
    assert 'id="err-blocked_domains"' in page and "not a domain" in page
    assert 'id="err-history_days"' in page and "between 1 and 180" in page
    assert "example.com\nnot a domain" in page  # what was typed stays
    assert db.scalar(select(AuditEvent.id)) is None


def test_preview_then_save_a_keyword_and_see_it_in_the_audit_and_the_policy(app, admin_client, db):
    alex = db.scalar(select(User).where(User.object_id == ALEX.object_id))
    saved_item(db, alex, "Payslip for March")
    saved_item(db, alex, "Proposal")
    values = form_values(admin_client)
    values["subject_keywords"] = "payslip"
    values.pop("rule_internal_only", None)  # switch a rule off too
    answer = admin_client.post("/admin/controls/preview", data=values)
    assert answer.status_code == 200, answer.get_data(as_text=True)[:2000]
    page = answer.get_data(as_text=True)
    assert 'id="newly-skipped">1<' in page and "Payslip for March" in page
    # The reason names the keyword that matched (not a placeholder).
    assert "the subject contains &#34;payslip&#34;" in page or (
        'the subject contains "payslip"' in page
    )
    assert "+ payslip" in page and 'data-setting="rule_internal_only"' in page
    payload = unescape(re.search(r'name="payload" value="([^"]+)"', page).group(1))
    assert json.loads(payload)["changes"] == {
        "subject_keywords": ["payslip"],
        "rule_internal_only": False,
    }
    assert org_settings(alex.org_id) == {}  # nothing saved before the confirmation
    done = admin_client.post(
        "/admin/controls/save", data={"csrf_token": csrf(admin_client), "payload": payload}
    )
    assert done.status_code == 302
    assert org_settings(alex.org_id) == {
        "subject_keywords": ["payslip"],
        "rule_internal_only": False,
    }
    assert "payslip" in effective_policy(alex).subject_keywords  # the next session's policy
    entry = db.scalar(select(AuditEvent).where(AuditEvent.action == "settings.changed"))
    assert entry.actor == ALEX.email
    assert entry.before["settings"] == {"rule_internal_only": None, "subject_keywords": None}
    assert entry.after["settings"]["subject_keywords"] == ["payslip"]
    # Putting the default back resets the stored value instead of pinning it.
    values = form_values(admin_client)
    values["rule_internal_only"] = "on"
    page = admin_client.post("/admin/controls/preview", data=values).get_data(as_text=True)
    payload = unescape(re.search(r'name="payload" value="([^"]+)"', page).group(1))
    assert json.loads(payload)["changes"] == {"rule_internal_only": None}


def test_a_locked_setting_is_refused_to_users_and_ignored_in_their_policy(
    app, admin_client, sandbox, db
):
    token = sign_in_for_token(app.test_client(), sandbox, BIANCA)
    headers = {"Authorization": f"Bearer {token}"}
    client = app.test_client()
    assert (
        client.put("/api/policy/me", json={"auto_save": "off"}, headers=headers).status_code == 200
    )
    values = form_values(admin_client)
    values["lock:auto_save"] = "on"
    page = admin_client.post("/admin/controls/preview", data=values).get_data(as_text=True)
    assert "Users may no longer change" in page
    payload = unescape(re.search(r'name="payload" value="([^"]+)"', page).group(1))
    admin_client.post(
        "/admin/controls/save", data={"csrf_token": csrf(admin_client), "payload": payload}
    )
    refused = client.put("/api/policy/me", json={"auto_save": "threads"}, headers=headers)
    assert refused.status_code == 400 and "auto_save" in refused.json["details"]["errors"]
    mine = client.get("/api/policy/me", headers=headers).json
    assert mine["locked"] == ["auto_save"]
    bianca = db.scalar(select(User).where(User.object_id == BIANCA.object_id))
    org_default = effective_policy(
        db.scalar(select(User).where(User.object_id == ALEX.object_id))
    ).auto_save
    assert effective_policy(bianca).auto_save == org_default  # her "off" no longer counts
    entry = db.scalar(select(AuditEvent).where(AuditEvent.action == "settings.changed"))
    assert entry.before["locked"] == [] and entry.after["locked"] == ["auto_save"]
