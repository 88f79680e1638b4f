"""Create contact keeps the company (issue 12): the new contact joins the account of that name
or a new one, the pane shows and ticks that account, and Save links it. Both CRM adapters
(conftest.py), read back through the CRM interface; screenshots in artifacts/."""

from __future__ import annotations

import uuid

import pytest

from server.crm.base import RecordRef

from .conftest import sign_in_by_token
from .test_pane import activity_links, email_from

pytestmark = pytest.mark.e2e


def test_create_a_contact_keeps_its_company_as_the_account(pane):
    sign_in_by_token(pane)
    pane.open_preview()
    unique = uuid.uuid4().hex[:6]
    address = f"olga.new{unique}@fresh-prospect{unique}.test"
    message = email_from(address, "Olga New", subject="A first contact")
    pane.open_message(message)
    frame = pane.frame
    frame.get_by_role("button", name=f"Create a contact for {address}").click()
    form = frame.locator("form.create-form")
    company = f"Fresh Prospect {unique}"
    form.locator("#cf-company").fill(company)
    pane.screenshot("create-contact-form")
    form.get_by_role("button", name="Create contact").click()
    row = frame.locator(f'li.participant[data-address="{address}"]')
    row.locator(".badge-matched").wait_for()

    contact_id = pane.server.find_person(address, "contact")
    person = pane.server.with_crm(lambda crm: crm.find_people([address]))[address][0]
    assert person.account_id, "the contact has an account"
    account = RecordRef("account", person.account_id)
    names = pane.server.with_crm(lambda crm: crm.get_records([account]))
    assert names[account].name == company
    assert company in row.inner_text()
    assert frame.locator(f"#pick-contact-{contact_id}").is_checked()
    assert frame.locator(f"#pick-account-{person.account_id}").is_checked()
    frame.locator("#save").click()
    frame.locator('#saved-state[data-status="saved"]').wait_for()
    pane.screenshot("contact-with-account-saved")
    links = activity_links(pane, message["internetMessageId"])
    assert {("contact", contact_id), ("account", person.account_id)} <= links
    assert not pane.errors
