"""A reason that holds for every opportunity ("linking to opportunities is off") is said once
for the group, above the rows, not repeated on each row (issue 12). Both CRM adapters
(conftest.py); screenshots in artifacts/."""

from __future__ import annotations

import pytest

from server.crm.builtin.demo_data import DEFAULT_SEED, demo_crm
from server.sandbox.mailbox import linkable_contacts

from .conftest import known_contact, sign_in_by_token
from .test_pane import email_from

pytestmark = pytest.mark.e2e


def _colleague_with_opportunities(account_name: str) -> str:
    """A second contact, at another account that has opportunities: the pane then lists
    opportunities of two accounts, several rows."""
    data = demo_crm(DEFAULT_SEED)
    with_opps = {o.account for o in data.opportunities}
    return next(
        c.emails[0]
        for c in linkable_contacts()
        if c.account in with_opps and data.accounts[c.account].name != account_name
    )


def test_linking_off_is_said_once_for_the_opportunities(pane):
    sign_in_by_token(pane)
    contact = known_contact(pane.server)
    other = _colleague_with_opportunities(contact.account_name)
    pane.open_preview()
    # The demo organisation has linking to opportunities off.
    pane.open_message(
        email_from(contact.email, contact.name, cc=[{"address": other, "name": "Colleague"}])
    )
    frame = pane.frame
    group = frame.locator('section[aria-labelledby="opps-h"]')
    group.wait_for()
    rows = group.locator("input.pick")
    assert rows.count() >= 2, "the email should list several opportunities"
    note = group.locator("#opps-reason")
    assert note.inner_text() == "Linking to opportunities is off"
    # Once, right under the heading, before the first row; never on the rows.
    assert group.get_by_text("Linking to opportunities is off").count() == 1
    order = group.locator("h3, #opps-reason, .pick-row").evaluate_all(
        "nodes => nodes.map(n => n.id || n.tagName)"
    )
    assert order[:2] == ["opps-h", "opps-reason"], order
    assert all(not rows.nth(i).is_checked() for i in range(rows.count()))
    group.scroll_into_view_if_needed()
    pane.screenshot("opportunities-linking-off-once")
    assert not pane.errors
