"""The built-in CRM's web pages: lists, search, sort, pages, record timelines, escaping."""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import select

from server.auth.decorators import COOKIE_TOKEN_KEY
from server.auth.sessions import issue_session
from server.crm.base import ActivityDraft, ActivityParticipant, Link, RecordRef
from server.crm.builtin.adapter import BuiltinCRM
from server.crm.builtin.models import CrmAccount, CrmAccountDomain, CrmContact, CrmContactEmail
from server.demo import demo_org, seed_demo
from server.models.tenancy import Organisation, User
from server.sandbox.directory import OTHER_TENANT_ID

HOSTILE = '<script>alert("x")</script> & Co'


def sign_in_browser(client, user: User) -> None:
    """The browser holds a live session, as after /auth/callback (the pages need one)."""
    with client.session_transaction() as browser:
        browser[COOKIE_TOKEN_KEY] = issue_session(user)


@pytest.fixture
def demo(db, client):
    seed_demo(db)
    org = demo_org(db)
    sign_in_browser(client, db.scalar(select(User).where(User.org_id == org.id).limit(1)))
    account = CrmAccount(org_id=org.id, name=HOSTILE)
    db.add(account)
    db.flush()
    db.add(CrmAccountDomain(org_id=org.id, account_id=account.id, domain="hostile.test"))
    contact = CrmContact(org_id=org.id, name="Zed <b>Bold</b>", account_id=account.id)
    db.add(contact)
    db.flush()
    db.add(CrmContactEmail(org_id=org.id, contact_id=contact.id, email="zed@hostile.test"))
    db.commit()
    return {"org": org, "account": account, "contact": contact}


def test_every_list_page_renders(client, demo):
    for path in ("/crm/", "/crm/accounts", "/crm/contacts", "/crm/leads", "/crm/opportunities"):
        response = client.get(path)
        assert response.status_code == 200, path
        assert b"Next</a>" in response.data  # the demo has more than one page of each


def test_hostile_names_are_escaped(client, demo):
    page = client.get("/crm/accounts?q=script").get_data(as_text=True)
    assert "<script>" not in page
    assert "&lt;script&gt;alert(&#34;x&#34;)&lt;/script&gt; &amp; Co" in page
    record = client.get(f"/crm/account/{demo['account'].id}").get_data(as_text=True)
    assert "<script>" not in record and "<b>Bold</b>" not in record
    assert "Zed &lt;b&gt;Bold&lt;/b&gt;" in record


def test_search_filters_by_name_and_address(client, demo):
    page = client.get("/crm/contacts?q=ZED@HOSTILE").get_data(as_text=True)
    assert "1 record matching" in page and "zed@hostile.test" in page
    assert "0 records" in client.get("/crm/leads?q=no-such-lead-here").get_data(as_text=True)


def test_last_interaction_sort_and_timeline(client, db, demo):
    org, contact = demo["org"], demo["contact"]
    crm = BuiltinCRM(db, org.id)
    when = datetime.now(UTC) - timedelta(hours=2)
    crm.log_emails(
        [
            ActivityDraft(
                key="<pages-1@hostile.test>",
                kind="email",
                subject="Pricing <i>question</i>",
                start=when,
                participants=[ActivityParticipant("zed@hostile.test", "Zed", "from")],
                links=[
                    Link(RecordRef("contact", str(contact.id)), "from"),
                    Link(RecordRef("account", str(demo["account"].id))),
                ],
            )
        ]
    )
    db.commit()
    listing = client.get("/crm/contacts?sort=last_interaction").get_data(as_text=True)
    first_row = listing.split("<tr>")[2]
    assert f"/crm/contact/{contact.id}" in first_row
    record = client.get(f"/crm/contact/{contact.id}").get_data(as_text=True)
    assert "Pricing &lt;i&gt;question&lt;/i&gt;" in record
    assert "from" in record and "Email" in record


def test_pagination_and_bad_parameters(client, demo):
    second = client.get("/crm/contacts?page=2&sort=nonsense")
    assert second.status_code == 200 and b"Page 2 of" in second.data
    assert client.get("/crm/contacts?page=99999").status_code == 200  # clamped to the last
    assert client.get("/crm/contacts?page=-1").status_code == 200


def test_unknown_and_foreign_records_are_not_found(client, db, demo):
    assert client.get("/crm/contact/999999").status_code == 404
    assert client.get("/crm/contact/99999999999999").status_code == 404
    assert client.get("/crm/widget/1").status_code == 404
    other_org = db.scalar(select(Organisation).where(Organisation.tenant_id == OTHER_TENANT_ID))
    foreign = CrmContact(org_id=other_org.id, name="Other Org Person")
    db.add(foreign)
    db.commit()
    assert client.get(f"/crm/contact/{foreign.id}").status_code == 404
    assert b"Other Org Person" not in client.get("/crm/contacts?q=other+org").data
    assert client.get(f"/crm/contact/{demo['contact'].id}").status_code == 200


@pytest.mark.parametrize(
    "app_config", [{"SANDBOX_ENABLED": True}, {"SANDBOX_ENABLED": False}], ids=["sandbox", "prod"]
)
def test_an_anonymous_visitor_must_sign_in_in_every_mode(app, demo):
    anonymous = app.test_client()  # no cookie at all (the demo fixture signed in `client`)
    paths = ["/crm/", "/crm/accounts", f"/crm/contact/{demo['contact'].id}", "/crm/leads"]
    for path in paths:
        response = anonymous.get(path)
        assert response.status_code == 302, path
        assert response.headers["Location"].startswith("/auth/signin?next=")
        assert b"Accounts" not in response.data and b"Zed" not in response.data


def test_a_signed_out_cookie_no_longer_opens_the_pages(client, demo):
    assert client.get("/crm/accounts").status_code == 200
    page = client.get("/crm/accounts").get_data(as_text=True)
    token = re.search(r'name="csrf_token" value="([^"]+)"', page)
    assert token, "the pages carry the sign-out form with its CSRF token"
    old_cookie = client.get_cookie("courier_session").value
    assert client.post("/auth/signout", data={"csrf_token": token.group(1)}).status_code == 302
    for cookie in (None, old_cookie):  # the cookie as signed out, and the old one replayed
        if cookie is not None:
            client.set_cookie("courier_session", cookie)
        response = client.get(f"/crm/contact/{demo['contact'].id}")
        assert response.status_code == 302 and "/auth/signin" in response.headers["Location"]
