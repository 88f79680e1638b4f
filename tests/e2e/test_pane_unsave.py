"""Unlink and "remove from CRM" in the pane (issue 12), both CRM adapters: after a save the
ticks are what the CRM holds; "Unlink" drops one record in the CRM and the ticks follow;
"Remove from CRM…" asks first (Cancel/Escape back out), then deletes the email in the CRM, says
it will not be saved again, and offers Save; all by keyboard. Screenshots in artifacts/."""

from __future__ import annotations

import pytest

from .test_pane import activity_links, open_email_from_a_contact
from .test_pane_linking import _ticked

pytestmark = pytest.mark.e2e


def test_unlink_then_remove_from_crm_by_keyboard(pane):
    contact, message = open_email_from_a_contact(pane, "Saved by mistake")
    frame = pane.frame
    key = message["internetMessageId"]
    frame.locator("#save").click()
    frame.locator('#saved-state[data-status="saved"]').wait_for()
    links = activity_links(pane, key)
    assert _ticked(frame) == links and ("contact", contact.id) in links

    # Unlink the contact with the keyboard: the CRM drops it, the ticks follow.
    unlink = frame.get_by_role("button", name=f"Unlink {contact.name}")
    unlink.focus()
    unlink.press("Enter")
    frame.locator("#save-msg", has_text="Unlinked.").wait_for()
    after = activity_links(pane, key)
    assert ("contact", contact.id) not in after
    assert _ticked(frame) == after
    pane.screenshot("unlinked")

    # Remove from CRM: asks first; Escape backs out, nothing is deleted.
    frame.locator("#remove-from-crm").focus()
    frame.locator("#remove-from-crm").press("Enter")
    frame.locator("#confirm-remove").wait_for()
    pane.screenshot("confirm-remove")
    frame.locator(".remove-slot button", has_text="Cancel").press("Escape")
    frame.locator("#remove-from-crm:focus").wait_for()
    assert activity_links(pane, key) == after
    frame.locator("#remove-from-crm").press("Enter")
    frame.locator("#confirm-remove").focus()
    frame.locator("#confirm-remove").press("Enter")
    frame.locator('#saved-state[data-status="removed"]').wait_for()
    assert activity_links(pane, key) is None  # gone from the CRM
    why = frame.locator("#why")
    assert why.get_attribute("data-code") == "removed_from_crm"
    assert "nothing saves it again" in why.inner_text()
    assert frame.locator("#save").is_enabled()
    pane.screenshot("removed")

    # The user's own save brings it back.
    frame.locator("#save").click()
    frame.locator('#saved-state[data-status="saved"]').wait_for()
    assert _ticked(frame) == activity_links(pane, key)
    assert not pane.errors
