"""Safe, reversible blocking and "My settings" (issue 12): a whole domain asks first, the row
offers Undo, "Don't sync" comes after Save in the tab order; My settings shows the blocklist
with Remove, the auto-save mode and the history window, and the administrator's settings
locked. Both CRM adapters (conftest.py); screenshots in artifacts/."""

from __future__ import annotations

import pytest
from sqlalchemy import select

from server.models.tenancy import User
from server.policy import effective_policy, update_org_policy

from .conftest import DEMO_EMAIL
from .test_pane import open_email_from_a_contact

pytestmark = pytest.mark.e2e


def _policy(pane):
    return pane.server.run(
        lambda db: effective_policy(db.scalar(select(User).where(User.email == DEMO_EMAIL)))
    )


def _tab_order(frame) -> list[str]:
    """The pane's focusable controls in the order Tab visits them (DOM order, no tabindex)."""
    return frame.locator("#app").evaluate(
        """root => [...root.querySelectorAll('button, input, summary')]
          .map(n => n.id || n.getAttribute('aria-label') || n.textContent.trim())"""
    )


def test_block_a_domain_asks_first_and_undo_restores_it(pane):
    contact, _message = open_email_from_a_contact(pane, "Domain block")
    frame = pane.frame
    domain = contact.email.split("@")[1]
    order = _tab_order(frame)
    assert order.index("save") < order.index("Don't sync someone…")
    frame.locator("#dont-sync summary").click()
    frame.get_by_role("button", name=f"Do not sync anyone at {domain}").click()
    # Nothing blocked yet: the pane asks.
    confirm = frame.locator("#confirm-block")
    confirm.wait_for()
    assert domain not in _policy(pane).blocked_domains
    confirm.scroll_into_view_if_needed()
    pane.screenshot("confirm-domain")
    confirm.click()
    row = frame.locator(f'li.participant[data-address="{contact.email}"]')
    row.locator(".badge-blocked").wait_for()
    assert domain in _policy(pane).blocked_domains
    pane.screenshot("blocked-with-undo")
    row.locator("#undo-block").click()
    row.locator(".badge-matched").wait_for()
    assert domain not in _policy(pane).blocked_domains
    assert frame.locator(f"#pick-contact-{contact.id}").count() == 1
    assert not pane.errors


def test_my_settings_blocklist_mode_history_and_locked_settings(pane):
    contact, _message = open_email_from_a_contact(pane, "Settings")
    frame = pane.frame

    def org(db):
        user = db.scalar(select(User).where(User.email == DEMO_EMAIL))
        update_org_policy(user.org_id, {"blocked_domains": ["org-blocked.test"]}, actor=None)

    pane.server.run(org)
    frame.locator("#dont-sync summary").click()
    frame.get_by_role("button", name=f"Do not sync {contact.email}").click()
    frame.locator(f'li.participant[data-address="{contact.email}"] .badge-blocked').wait_for()

    frame.locator("#my-settings").click()
    frame.locator("#settings").wait_for()
    mine = frame.locator(f'.block-row[data-entry="{contact.email}"]')
    assert mine.get_by_role("button", name=f"Sync {contact.email} again").is_visible()
    theirs = frame.locator('.block-row[data-entry="org-blocked.test"]')
    assert "Set by your administrator" in theirs.inner_text()
    assert theirs.locator("button").count() == 0
    assert frame.locator("#mode-all").is_checked()  # the demo organisation's auto-save
    assert frame.locator(".locked").count() >= 1
    pane.screenshot("my-settings")

    frame.locator("#mode-threads").check()
    frame.locator("#history-days").fill("14")
    frame.locator("#settings-save").click()
    frame.locator("#settings-msg", has_text="Saved").wait_for()
    policy = _policy(pane)
    assert policy.auto_save == "threads" and policy.history_days == 14

    mine.get_by_role("button").click()
    frame.locator("#settings-msg", has_text="synced again").wait_for()
    assert contact.email not in _policy(pane).blocked_addresses
    assert frame.locator(f'.block-row[data-entry="{contact.email}"]').count() == 0
    pane.screenshot("my-settings-after")

    frame.locator("#settings-close").click()
    frame.locator(f"#pick-contact-{contact.id}").wait_for()
    # Auto-save of all email is now off, and the email says so.
    assert frame.locator("#why").get_attribute("data-code") == "auto_save_threads"
    assert not pane.errors
