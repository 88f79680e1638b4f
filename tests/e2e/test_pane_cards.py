"""A card per matched person (issue 12): owner, account, last interaction, the latest saved
activities, open opportunities with close dates and currency (closed ones folded away) and
"Open in CRM", drawn after the suggestions. Both CRM adapters (conftest.py); text from the
email and the CRM stays text; screenshots in artifacts/."""

from __future__ import annotations

import pytest

from .test_pane import open_email_from_a_contact

pytestmark = pytest.mark.e2e

HOSTILE = '<img src=x onerror="window.__cardXss=1">Quote & <b>terms</b>'


def test_a_card_per_person_with_owner_activity_opportunities_and_a_crm_link(pane):
    contact, message = open_email_from_a_contact(pane, HOSTILE)
    frame = pane.frame
    card = frame.locator(f'.person-card[data-id="{contact.id}"]')
    card.wait_for()
    facts = card.locator("dl").inner_text()
    assert "Owner" in facts
    assert contact.account_name in facts
    opportunity = card.locator(".card-opp", has_text=contact.opportunity_name).first
    assert "closes " in opportunity.inner_text() and "$" in opportunity.inner_text()
    link = card.locator("a.open-crm")
    href = link.get_attribute("href")
    if pane.server.adapter == "builtin":
        assert href.endswith(f"/crm/contact/{contact.id}")
    else:
        assert href.endswith(f"/lightning/r/Contact/{contact.id}/view")
    assert link.get_attribute("target") == "_blank" and "noopener" in link.get_attribute("rel")

    # Saved, the email is the newest activity on the card; its subject is text, not markup.
    frame.locator("#save").click()
    frame.locator('#saved-state[data-status="saved"]').wait_for()
    newest = card.locator(".card-recent li").first
    newest.wait_for()
    assert newest.locator(".rec-name").inner_text() == HOSTILE
    assert frame.locator(".person-card img, .person-card b").count() == 0
    assert pane.page.evaluate("() => window.__cardXss") is None
    assert "none yet" not in card.locator("dl").inner_text()

    # Keyboard: "Open in CRM" is reachable with Tab and named by its text.
    link.focus()
    assert frame.locator("a.open-crm:focus").count() == 1
    closed = card.locator("details.closed-opps")
    if closed.count():
        closed.locator("summary").focus()
        closed.locator("summary").press("Enter")
        assert closed.locator(".card-opp").first.is_visible()
    card.scroll_into_view_if_needed()
    pane.screenshot("card")
    assert not pane.errors
