"""Connecting the user's own Salesforce login from the pane: the "Connect Salesforce" state, the
Office dialog through the sandbox's authorize page back to the pane, "Disconnect Salesforce",
and a revoked grant asking to connect again. Salesforce only: the built-in CRM has no per-user
login to connect."""

from __future__ import annotations

import uuid

import pytest

from .conftest import DEMO_EMAIL, Pane, known_contact, sign_in_by_token
from .test_pane import email_from, open_email_from_a_contact

pytestmark = [
    pytest.mark.e2e,
    pytest.mark.parametrize("crm_adapter", ["salesforce"], indirect=True),
]


def approve_in_dialog(pane: Pane, decision: str = "allow") -> None:
    """Click "Connect Salesforce"; allow (or deny) access on the sandbox Salesforce's page in
    the dialog, which lands on Courier's bridge page, messages the pane and closes."""
    with pane.context.expect_page() as popup_info:
        pane.frame.locator("#crm-connect").click()
    popup = popup_info.value
    button = popup.locator(f"#{decision}")
    button.wait_for()
    assert popup.locator("#username").input_value() == DEMO_EMAIL  # the login hint
    button.click()
    popup.wait_for_event("close", timeout=15_000)
    pane.assert_dialog_ran_real_office_js()


def test_connect_salesforce_from_the_pane_then_disconnect(pane):
    sign_in_by_token(pane, connect_crm=False)
    pane.open_preview()
    buyer = f"buyer{uuid.uuid4().hex[:6]}@unknown-prospect.test"
    pane.open_message(email_from(buyer, "Bo Buyer", subject="Before connecting"))
    frame = pane.frame
    frame.locator("#crm-connect").wait_for()
    assert "Connect Salesforce" in frame.locator(".state-connect").inner_text()
    status = frame.locator("#status").inner_text()
    assert "Salesforce not connected" in status and "null" not in status
    assert frame.locator("#crm-disconnect").count() == 0
    assert frame.locator("li.participant").count() == 0  # no lookups without a login
    pane.screenshot("salesforce-not-connected")

    approve_in_dialog(pane)
    frame.locator(f'li.participant[data-address="{buyer}"]').wait_for()  # reloaded
    assert "Salesforce connected" in frame.locator("#status").inner_text()
    assert pane.server.crm_connection()["connected"]
    pane.screenshot("salesforce-connected")

    contact = known_contact(pane.server)
    pane.open_message(email_from(contact.email, contact.name, subject="With records"))
    assert frame.locator(f"#pick-contact-{contact.id}").is_checked()
    assert contact.account_name in frame.locator("#app").inner_text()
    pane.screenshot("salesforce-known-contact")

    frame.locator("#crm-disconnect").click()
    frame.locator("#crm-connect").wait_for()
    assert "Salesforce not connected" in frame.locator("#status").inner_text()
    assert pane.server.crm_connection() == {
        "connected": False,
        "needs_reauth": False,
        "connect_required": True,
        "can_disconnect": False,
    }
    pane.screenshot("salesforce-disconnected")
    assert not pane.errors


def test_a_revoked_salesforce_grant_asks_to_connect_again(pane):
    contact, _message = open_email_from_a_contact(pane, "Before revocation")
    sandbox = pane.server.sandbox
    sandbox.control("/_sandbox/salesforce/grants/revoke", {"username": DEMO_EMAIL})
    sandbox.control("/_sandbox/salesforce/sessions/expire")
    # A new address, so the lookup cannot be answered from the address cache.
    stranger = f"new{uuid.uuid4().hex[:6]}@unknown-prospect.test"
    fresh = email_from(stranger, "Nia New", subject="After revocation")
    pane.add_message(fresh)
    pane.select(fresh["id"])
    frame = pane.frame
    frame.locator("#crm-connect").wait_for()
    assert "Connect Salesforce again" in frame.locator(".state-connect").inner_text()
    assert "needs connecting again" in frame.locator("#status").inner_text()
    assert pane.server.crm_connection()["needs_reauth"]
    pane.screenshot("salesforce-needs-reauth")

    pane.select(fresh["id"])  # selecting again: the payload itself says "connect first"
    frame.locator("#crm-connect").wait_for()

    approve_in_dialog(pane)
    frame.locator(f'li.participant[data-address="{stranger}"]').wait_for()
    assert pane.server.crm_connection()["connected"]
    assert "Salesforce connected" in frame.locator("#status").inner_text()
    pane.screenshot("salesforce-reconnected")
    assert contact.name  # the same user, their records still there
    assert not pane.errors


def test_denying_access_in_the_dialog_keeps_the_connect_state_with_the_reason(pane):
    sign_in_by_token(pane, connect_crm=False)
    pane.open_preview()
    pane.open_message(email_from("x@unknown-prospect.test", "Xavier", subject="Denied"))
    pane.frame.locator("#crm-connect").wait_for()
    approve_in_dialog(pane, decision="deny")
    reason = pane.frame.locator(".state-connect .error-text")
    reason.wait_for()
    assert "did not grant access" in reason.inner_text()
    assert not pane.server.crm_connection()["connected"]
    pane.screenshot("salesforce-denied")
    assert not pane.errors
