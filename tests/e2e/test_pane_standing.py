"""Every email says where it stands (issue 12): saved, and how; will be saved by the background
sync; not saved because auto-save of all email is off (and where to change that); screened out
(newsletters, internal) with the reason first and saving as a secondary, deliberate step. And
the demo organisation's first sync saves the customer email, which the pane shows as saved by
the background sync. Both CRM adapters (conftest.py); screenshots in artifacts/."""

from __future__ import annotations

import pytest
from sqlalchemy import select

from server.models.ledger import LedgerEntry
from server.models.tenancy import User
from server.policy import update_user_policy

from .conftest import DEMO_EMAIL, known_contact, sign_in_by_token
from .test_pane import email_from, run_background_jobs, sign_in_with_dialog

pytestmark = pytest.mark.e2e


def _set_my_policy(pane, changes: dict) -> None:
    def change(db):
        user = db.scalar(select(User).where(User.email == DEMO_EMAIL))
        update_user_policy(user, changes)

    pane.server.run(change)


def test_a_customer_email_says_it_will_be_saved_or_why_not(pane):
    sign_in_by_token(pane)
    contact = known_contact(pane.server)
    pane.open_preview()
    # The demo organisation auto-saves all relevant email: the background sync will save it.
    pane.open_message(email_from(contact.email, contact.name, subject="Pricing question"))
    frame = pane.frame
    why = frame.locator("#why")
    assert why.get_attribute("data-kind") == "will_save"
    assert "background sync" in why.inner_text()
    pane.screenshot("will-save")

    # With auto-save of all email off, the pane says so and where to change it.
    _set_my_policy(pane, {"auto_save": "threads"})
    pane.open_message(email_from(contact.email, contact.name, subject="Second question"))
    assert why.get_attribute("data-code") == "auto_save_threads"
    assert "auto-save of all email is off" in why.inner_text()
    assert frame.locator("#why-settings").is_visible()
    # The primary action is still saving by hand, which then says how it was saved.
    assert "primary" in (frame.locator("#save").get_attribute("class") or "")
    frame.locator("#save").click()
    saved = frame.locator('#saved-state[data-status="saved"]')
    saved.wait_for()
    assert "Saved to CRM by hand" in saved.inner_text()
    assert frame.locator("#why").count() == 0
    pane.screenshot("auto-save-off-then-saved-by-hand")
    assert not pane.errors


@pytest.mark.parametrize(
    ("sender", "name", "code"),
    [
        ("newsletter@news.globex-example.test", "Globex News", "automated_sender"),
        ("bianca@courier-demo.test", "Bianca", "internal_only"),
    ],
)
def test_a_screened_email_shows_the_reason_first_and_saving_as_a_deliberate_step(
    pane, sender, name, code
):
    sign_in_by_token(pane)
    pane.open_preview()
    pane.open_message(email_from(sender, name, subject="Our monthly news"))
    frame = pane.frame
    why = frame.locator("#why")
    assert why.get_attribute("data-kind") == "screened"
    assert why.get_attribute("data-code") == code
    assert why.inner_text().startswith("Not saved:")
    # The reason comes before the people; the save button is folded away, not primary.
    order = frame.locator("#why, .card").evaluate_all("nodes => nodes.map(n => n.id || 'card')")
    assert order[0] == "why"
    assert not frame.locator("#save").is_visible()
    assert frame.locator("input.pick:checked").count() == 0
    pane.screenshot(f"screened-{code}")
    frame.locator("#save-anyway summary").click()
    save = frame.locator("#save")
    assert save.is_visible() and "primary" not in (save.get_attribute("class") or "")
    assert save.inner_text() == "Save this email"
    pane.screenshot(f"screened-{code}-save-anyway")
    assert not pane.errors


def test_the_demo_first_sync_saves_customer_email_and_the_pane_shows_it(pane):
    sandbox = pane.server.sandbox
    sandbox.control("/_sandbox/graph/configure", {"messages": 40, "events": 0})
    sign_in_with_dialog(pane)
    user = pane.server.user()
    from server.sync.jobs import enqueue_session

    pane.server.run(lambda _db: enqueue_session(user.id, "test"))
    run_background_jobs(pane)
    labels = sandbox.http.get(
        f"{sandbox.url}/_sandbox/graph/labels", params={"user": DEMO_EMAIL}, timeout=60
    ).json()
    wanted = [
        label
        for label in labels["messages"].values()
        if label["outcome"] == "save" and label["category"] in ("thread", "outbound")
    ]
    assert wanted, "the labelled set has customer email"

    def saved_by_sync(db):
        keys = [label["internet_message_id"] for label in wanted]
        rows = db.scalars(select(LedgerEntry).where(LedgerEntry.item_key.in_(keys))).all()
        return {row.item_key: (row.status, row.source) for row in rows}

    states = pane.server.run(saved_by_sync)
    assert set(states) == {label["internet_message_id"] for label in wanted}
    assert set(states.values()) == {("saved", "auto")}

    label = next(x for x in wanted if x["category"] == "thread")
    message = email_from(label["people"][0], "", subject="From the first sync")
    message["internetMessageId"] = label["internet_message_id"]
    pane.open_message(message)
    banner = pane.frame.locator('#saved-state[data-status="saved"]')
    banner.wait_for()
    assert "Saved to CRM by background sync" in banner.inner_text()
    pane.screenshot("saved-by-first-sync")
    assert not pane.errors
