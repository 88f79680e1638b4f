"""Issue 12, in the pane, against both CRM adapters (conftest.py), screenshots in artifacts/:
- ticking "auto-save this thread" on the first email saves the replies already in the mailbox,
  and each of them then shows "saved by thread auto-save";
- every matched person's account is ticked by the same rule, each row saying why (not);
- "will be saved" is the sync's own decision (history window, thread rules while auto-save
  is off);
- My settings shows what the admin locked, with the admin's value, disabled (the API refuses
  a change too);
- an email with more recipients than Office.js hands over (20 in Outlook on the web) still
  gets suggestions for everyone (the server reads them from Graph)."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import select

from server.crm.base import CRM, RecordRef
from server.crm.builtin.demo_data import DEFAULT_SEED, demo_crm
from server.models.ledger import LedgerEntry
from server.models.tenancy import User
from server.policy import update_org_policy, update_user_policy
from server.policy.store import set_org_locks

from .conftest import DEMO_EMAIL, KnownContact, known_contact, sign_in_by_token
from .test_pane import activity_links, email_from, run_background_jobs, sign_in_with_dialog

pytestmark = pytest.mark.e2e


def _my_policy(pane, changes: dict) -> None:
    def change(db):
        update_user_policy(db.scalar(select(User).where(User.email == DEMO_EMAIL)), changes)

    pane.server.run(change)


def _deliver(pane, conversation: str, sender: str, subject: str) -> dict:
    """A message in the user's sandbox mailbox (Graph), as the preview must show it too."""
    user = pane.server.user()
    return pane.server.sandbox.control(
        f"/_sandbox/graph/users/{user.object_id}/messages",
        {"from": sender, "conversationId": conversation, "subject": subject, "notify": False},
    )


def _as_preview(added: dict, contact: KnownContact, conversation: str, subject: str) -> dict:
    message = email_from(contact.email, contact.name, subject=subject, conversationId=conversation)
    message["id"], message["internetMessageId"] = added["id"], added["internetMessageId"]
    return message


def test_auto_save_this_thread_saves_the_replies_already_in_the_mailbox(pane):
    pane.server.sandbox.control("/_sandbox/graph/configure", {"messages": 0, "events": 0})
    sign_in_with_dialog(pane)
    _my_policy(pane, {"auto_save": "threads"})  # only what the user asks for is saved
    contact = known_contact(pane.server)
    conversation = f"AAQk-whole-{uuid.uuid4().hex[:8]}"
    first = _deliver(pane, conversation, contact.email, "Renewal terms")
    replies = [
        _deliver(pane, conversation, contact.email, f"RE: Renewal terms {n}") for n in (1, 2, 3)
    ]

    pane.open_message(_as_preview(first, contact, conversation, "Renewal terms"))
    frame = pane.frame
    frame.locator("#auto-save-thread").check()
    frame.locator("#save").click()
    frame.locator('#saved-state[data-status="saved"]').wait_for()
    chosen = activity_links(pane, first["internetMessageId"])
    run_background_jobs(pane)  # switching it on asked for a sync session: it reads the thread

    def sources(db):
        keys = [m["internetMessageId"] for m in [first, *replies]]
        rows = db.scalars(select(LedgerEntry).where(LedgerEntry.item_key.in_(keys)))
        return sorted((r.status, r.source) for r in rows)

    assert pane.server.run(sources) == [("saved", "manual")] + [("saved", "thread")] * 3
    for reply in replies:
        assert activity_links(pane, reply["internetMessageId"]) == chosen
    # Each reply, opened in Outlook, shows how it was saved.
    for n, reply in enumerate(replies, 1):
        pane.open_message(_as_preview(reply, contact, conversation, f"RE: Renewal terms {n}"))
        saved = frame.locator('#saved-state[data-status="saved"]')
        saved.wait_for()
        assert "by thread auto-save" in saved.inner_text()
        assert frame.locator("#auto-save-thread").is_checked()
    pane.screenshot("reply-saved-by-thread")
    assert not pane.errors


def _other_contact(server, known: KnownContact) -> KnownContact:
    """A demo contact at another account where the demo user has no open opportunity."""
    data = demo_crm(DEFAULT_SEED)
    object_id = server.user().object_id
    with_opportunity = {
        o.account for o in data.opportunities if o.owner == object_id and not o.is_closed
    }
    candidates = [
        c
        for c in data.contacts
        if c.emails and c.account is not None and c.account not in with_opportunity
    ]

    def find(crm: CRM) -> KnownContact:
        for contact in candidates:
            email = contact.emails[0]
            people = crm.find_people([email]).get(email, [])
            if len(people) != 1 or people[0].ref.type != "contact" or not people[0].account_id:
                continue
            person = people[0]
            if person.account_id == known.account_id:
                continue
            ref = RecordRef("account", person.account_id)
            account = crm.get_records([ref])[ref]
            return KnownContact(
                person.ref.id, person.name, email, person.account_id, account.name, "", ""
            )
        raise AssertionError("no second demo contact at an account without an opportunity")

    return server.with_crm(find)


def test_every_persons_account_is_ticked_by_the_same_rule_with_its_reason(pane):
    sign_in_by_token(pane)
    _my_policy(pane, {"link_to_opportunities": True})  # the demo organisation has it off
    pane.open_preview()
    ccd = known_contact(pane.server)  # their account has the user's open opportunity
    sender = _other_contact(pane.server, ccd)  # theirs has none
    message = email_from(
        sender.email,
        sender.name,
        subject="Joint proposal",
        cc=[{"address": ccd.email, "name": ccd.name}],
    )
    pane.open_message(message)
    frame = pane.frame
    # The opportunity rule picks one of the user's open opportunities at the cc'd person's account.
    chosen = frame.locator('input.pick[data-type="opportunity"]:checked')
    assert chosen.count() == 1, frame.locator("#app").inner_text()
    chosen_id = chosen.get_attribute("id")
    reason = frame.locator(f'label[for="{chosen_id}"] .reason')
    assert reason.inner_text().startswith("Your open opportunity")
    for person in (sender, ccd):
        tick = frame.locator(f"#pick-account-{person.account_id}")
        assert tick.is_checked(), person
        label = frame.locator(f'label[for="pick-account-{person.account_id}"] .reason')
        assert label.inner_text() == f"Account of {person.name}"
    # Every opportunity row says why it is or is not ticked.
    rows = frame.locator('input.pick[data-type="opportunity"]')
    for n in range(rows.count()):
        row_id = rows.nth(n).get_attribute("id")
        assert frame.locator(f'label[for="{row_id}"] .reason').count() == 1, row_id
    pane.screenshot("accounts-ticked-with-reasons")
    assert not pane.errors


def test_will_be_saved_is_the_syncs_own_decision(pane):
    sign_in_by_token(pane)
    pane.open_preview()
    contact = known_contact(pane.server)
    frame = pane.frame
    why = frame.locator("#why")
    # Older than the history window: the sync never reads it, whatever auto-save says.
    old = (datetime.now(UTC) - timedelta(days=45)).isoformat()
    pane.open_message(email_from(contact.email, contact.name, subject="Old thread", created=old))
    assert why.get_attribute("data-code") == "older_than_window"
    assert "-day history window" in why.inner_text()
    pane.screenshot("older-than-window")

    # A thread switched on while auto-save is off saves nothing: the pane does not promise it.
    _my_policy(pane, {"auto_save": "off"})
    conversation = f"AAQk-off-{uuid.uuid4().hex[:8]}"
    pane.open_message(
        email_from(contact.email, contact.name, subject="Terms", conversationId=conversation)
    )
    frame.locator("#auto-save-thread").check()
    frame.locator("#save").click()
    frame.locator('#saved-state[data-status="saved"]').wait_for()
    pane.open_message(
        email_from(contact.email, contact.name, subject="RE: Terms", conversationId=conversation)
    )
    assert frame.locator("#auto-save-thread").is_checked()
    assert why.get_attribute("data-code") == "thread_auto_save_off"
    assert why.get_attribute("data-kind") == "not_saved"
    assert frame.locator("#why-settings").is_visible()
    pane.screenshot("thread-on-auto-save-off")
    assert not pane.errors


def test_my_settings_shows_what_the_admin_locked(pane):
    def lock(db):
        user = db.scalar(select(User).where(User.email == DEMO_EMAIL))
        update_user_policy(user, {"auto_save": "all", "history_days": 60})  # before the lock
        update_org_policy(user.org_id, {"auto_save": "threads", "history_days": 14}, actor=None)
        set_org_locks(user.org_id, ["auto_save", "history_days"], actor=None)

    pane.server.run(lock)
    sign_in_by_token(pane)
    contact = known_contact(pane.server)
    pane.open_preview()
    pane.open_message(email_from(contact.email, contact.name, subject="Locked"))
    frame = pane.frame
    frame.locator("#my-settings").click()
    frame.locator("#settings").wait_for()
    modes = frame.locator("#auto-save-mode")
    assert modes.evaluate("n => n.disabled")
    assert frame.locator("#mode-threads").is_checked()  # the admin's value, not the user's
    assert frame.locator("#mode-all").is_disabled()
    assert "Set by your administrator" in modes.inner_text()
    history = frame.locator("#history-days")
    assert history.is_disabled() and history.input_value() == "14"
    assert "Set by your administrator" in frame.locator(".field").first.inner_text()
    pane.screenshot("my-settings-locked")

    # Saving sends nothing locked, and the API refuses a locked change anyway.
    frame.locator("#settings-save").click()
    frame.locator("#settings-msg", has_text="Saved").wait_for()
    token = pane.server.token()
    answer = pane.server.app.test_client().put(
        "/api/policy/me",
        json={"auto_save": "all"},
        headers={"Authorization": f"Bearer {token}"},
    )
    assert answer.status_code == 400, answer.get_json()
    assert answer.get_json()["error"] == "invalid_policy"
    assert "auto_save" in answer.get_json()["details"]["errors"]
    assert not pane.errors


def test_recipients_beyond_what_office_gives_are_suggested_too(pane):
    pane.server.sandbox.control("/_sandbox/graph/configure", {"messages": 0, "events": 0})
    sign_in_with_dialog(pane)
    contact = known_contact(pane.server)
    user = pane.server.user()
    crowd = [f"attendee{n}@big-webinar.test" for n in range(24)]
    to = [DEMO_EMAIL, *crowd, contact.email]  # the customer is the 26th recipient
    added = pane.server.sandbox.control(
        f"/_sandbox/graph/users/{user.object_id}/messages",
        {
            "from": "host@big-webinar.test",
            "to": to,
            "subject": "Webinar follow-up",
            "notify": False,
        },
    )
    message = email_from("host@big-webinar.test", "Host", subject="Webinar follow-up")
    message["id"], message["internetMessageId"] = added["id"], added["internetMessageId"]
    message["to"] = [{"address": a, "name": ""} for a in to]  # the preview hands over 20
    pane.open_message(message)
    frame = pane.frame
    row = frame.locator(f'li.participant[data-address="{contact.email}"]')
    row.wait_for()
    assert frame.locator(f"#pick-contact-{contact.id}").is_checked()
    assert frame.locator("li.participant").count() == 26  # the host and 25 recipients
    row.scroll_into_view_if_needed()
    pane.screenshot("twenty-six-participants")
    assert not pane.errors
