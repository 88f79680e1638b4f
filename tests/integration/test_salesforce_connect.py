"""Connecting Salesforce: OAuth web-server flow with PKCE against the sandbox, tokens encrypted
at rest, refresh on expiry, revoked grant → needs re-auth, disconnect."""

from __future__ import annotations

import json
from urllib.parse import parse_qs, urlsplit

import pytest
from lxml import html
from sqlalchemy import select

from server.auth.sessions import issue_session
from server.crm import crm_for
from server.crm.base import CRMAuthError
from server.crm.salesforce import SalesforceCRM
from server.models.crm_connections import SalesforceConnection
from server.models.tenancy import Organisation, User
from server.sandbox.directory import DEMO_DOMAIN, DEMO_TENANT_ID

from .salesforce_harness import USER_A, connect_user, salesforce_settings


@pytest.fixture
def app_config(sandbox):
    return salesforce_settings(sandbox)


@pytest.fixture
def courier_user(db):
    org = Organisation(tenant_id=DEMO_TENANT_ID, name="Courier Demo")
    db.add(org)
    db.flush()
    user = User(org_id=org.id, tenant_id=DEMO_TENANT_ID, object_id="oid-alex", email=USER_A)
    db.add(user)
    db.commit()
    return user


def _approve(sandbox, authorize_url: str, decision: str = "allow") -> str:
    """Play the user's browser on the sandbox's authorize page; returns the redirect."""
    page = sandbox.http.get(authorize_url)
    assert page.status_code == 200
    form = html.fromstring(page.text).forms[0]
    fields = dict(form.fields)
    assert fields["username"] == USER_A  # login_hint pre-selects the user
    fields["decision"] = decision
    answer = sandbox.http.post(authorize_url.split("?")[0], data=fields, allow_redirects=False)
    assert answer.status_code == 302
    return answer.headers["Location"]


def _outcome(page) -> dict:
    """What the bridge page hands the pane (its data-message)."""
    bridge = html.fromstring(page.data).get_element_by_id("crm-bridge")
    return json.loads(bridge.get("data-message"))


def _signed_in_browser(client, user) -> str:
    """`client` plays a browser signed in to Courier as `user` (the session cookie); returns
    a bearer token for the pane's API calls."""
    token = issue_session(user)
    with client.session_transaction() as cookie:
        cookie["session_token"] = issue_session(user)
    return token


def _start_in_dialog(client, token: str) -> str:
    """The pane asks for a dialog URL; the dialog (this browser) opens it: the authorize URL."""
    answer = client.post(
        "/api/crm/salesforce/connect",
        headers={"Authorization": f"Bearer {token}"},
        json={"mode": "dialog"},
    )
    assert answer.status_code == 200
    dialog = urlsplit(answer.get_json()["dialog_url"])
    opened = client.get(f"{dialog.path}?{dialog.query}")
    assert opened.status_code == 302, opened.data
    return opened.headers["Location"]


def test_connect_flow_with_pkce_stores_encrypted_tokens(sandbox, client, db, courier_user):
    token = _signed_in_browser(client, courier_user)
    url = _start_in_dialog(client, token)
    query = parse_qs(urlsplit(url).query)
    assert query["code_challenge_method"] == ["S256"] and len(query["code_challenge"][0]) == 43
    assert "code_verifier" not in url

    location = _approve(sandbox, url)
    callback = urlsplit(location)
    assert callback.path == "/crm/salesforce/callback"
    page = client.get(f"{callback.path}?{callback.query}")
    assert page.status_code == 200 and b"Salesforce connected" in page.data
    assert _outcome(page)["connected"] is True  # the bridge page tells the pane

    conn = db.scalar(
        select(SalesforceConnection).where(SalesforceConnection.user_id == courier_user.id)
    )
    # The Salesforce identity the grant belongs to (from the token response's id URL).
    org = sandbox.control("/_sandbox/salesforce/org", {})
    assert conn.sf_user_id == org["users"][USER_A]
    assert conn.sf_org_id == org["org_id"] and conn.sf_org_id.startswith("00D")
    assert conn.instance_url == sandbox.url and not conn.needs_reauth
    assert conn.sf_username == USER_A
    # Encrypted at rest: nothing in the row looks like a Salesforce token.
    assert "!AQ" not in conn.access_token_encrypted and not conn.refresh_token_encrypted.startswith(
        "5Aep"
    )

    # The state is single use: replaying the callback fails.
    assert client.get(f"{callback.path}?{callback.query}").status_code in (400, 403)
    # And the connection works.
    crm = crm_for(courier_user, "salesforce")
    assert isinstance(crm, SalesforceCRM)
    assert crm.find_people(["nobody@nowhere.test"]) == {}

    status = client.get("/api/crm/salesforce/status", headers={"Authorization": f"Bearer {token}"})
    assert status.get_json()["connected"] is True and status.get_json()["needs_reauth"] is False


def test_the_code_is_useless_without_the_verifier(sandbox, client, courier_user):
    url = _start_in_dialog(client, _signed_in_browser(client, courier_user))
    code = parse_qs(urlsplit(_approve(sandbox, url)).query)["code"][0]
    answer = sandbox.http.post(
        f"{sandbox.url}/salesforce/services/oauth2/token",
        data={
            "grant_type": "authorization_code",
            "code": code,
            "client_id": "courier-dev-sf-client",
            "client_secret": "courier-dev-sf-secret",
            "redirect_uri": "http://127.0.0.1:8000/crm/salesforce/callback",
        },
    )
    assert answer.status_code == 400 and answer.json()["error"] == "invalid_grant"
    assert answer.json()["error_description"] == "invalid code verifier"


def test_denied_consent_stores_nothing(sandbox, client, db, courier_user):
    url = _start_in_dialog(client, _signed_in_browser(client, courier_user))
    callback = urlsplit(_approve(sandbox, url, decision="deny"))
    page = client.get(f"{callback.path}?{callback.query}")
    assert _outcome(page)["connected"] is False and b"did not grant" in page.data
    assert db.scalar(select(SalesforceConnection)) is None


@pytest.fixture
def sharer(db, courier_user):
    """Another Courier user of the same organisation, who shares their dialog link."""
    user = User(
        org_id=courier_user.org_id,
        tenant_id=DEMO_TENANT_ID,
        object_id="oid-sam",
        email="sam@x.test",
    )
    db.add(user)
    db.commit()
    return user


def test_a_shared_dialog_link_cannot_connect_the_victims_salesforce_to_the_sharer(
    app, sandbox, db, courier_user, sharer
):
    """The sharer starts a connect in their pane and sends the dialog link to the victim,
    who is signed in to Courier as themselves in their browser: the link is refused."""
    sharers_browser, victims_browser = app.test_client(), app.test_client()
    token = _signed_in_browser(sharers_browser, sharer)
    _signed_in_browser(victims_browser, courier_user)
    answer = sharers_browser.post(
        "/api/crm/salesforce/connect",
        headers={"Authorization": f"Bearer {token}"},
        json={"mode": "dialog"},
    )
    dialog = urlsplit(answer.get_json()["dialog_url"])
    opened = victims_browser.get(f"{dialog.path}?{dialog.query}")
    assert opened.status_code == 403 and b"started by someone else" in opened.data
    assert db.scalar(select(SalesforceConnection)) is None


def test_a_shared_authorize_link_cannot_complete_in_another_browser(
    app, sandbox, db, courier_user, sharer
):
    """Even past our dialog page (the sharer sends Salesforce's authorize URL itself), the
    callback in the victim's browser lacks the state in its cookie: nothing is stored."""
    sharers_browser, victims_browser = app.test_client(), app.test_client()
    token = _signed_in_browser(sharers_browser, sharer)
    _signed_in_browser(victims_browser, courier_user)
    authorize_url = _start_in_dialog(sharers_browser, token)
    callback = urlsplit(_approve(sandbox, authorize_url))  # the victim logs in to Salesforce
    page = victims_browser.get(f"{callback.path}?{callback.query}")
    assert _outcome(page)["connected"] is False and b"another browser" in page.data
    assert db.scalar(select(SalesforceConnection)) is None
    # A browser not signed in to Courier at all fares no better.
    anonymous = app.test_client()
    authorize_url = _start_in_dialog(sharers_browser, token)
    callback = urlsplit(_approve(sandbox, authorize_url))
    assert _outcome(anonymous.get(f"{callback.path}?{callback.query}"))["connected"] is False
    assert db.scalar(select(SalesforceConnection)) is None


def test_the_dialog_page_asks_a_browser_without_a_courier_session_to_sign_in(
    app, sandbox, courier_user
):
    pane, dialog_browser = app.test_client(), app.test_client()
    token = issue_session(courier_user)
    answer = pane.post(
        "/api/crm/salesforce/connect",
        headers={"Authorization": f"Bearer {token}"},
        json={"mode": "dialog"},
    )
    dialog = urlsplit(answer.get_json()["dialog_url"])
    opened = dialog_browser.get(f"{dialog.path}?{dialog.query}")
    assert opened.status_code == 302 and "/auth/signin" in opened.headers["Location"]


def test_an_expired_session_is_refreshed_once_and_the_call_succeeds(sandbox, db):
    user = connect_user(sandbox, db, seed_demo=True)
    crm = SalesforceCRM.for_user(user)
    before = db.scalar(select(SalesforceConnection)).access_token_encrypted
    sandbox.control("/_sandbox/salesforce/sessions/expire")
    found = crm.find_people([f"alex@{DEMO_DOMAIN}", "nobody@nowhere.test"])
    assert found == {}
    db.expire_all()
    conn = db.scalar(select(SalesforceConnection))
    assert (
        conn.access_token_encrypted != before
        and conn.refreshed_at is not None
        and not conn.needs_reauth
    )


def test_a_revoked_grant_marks_the_connection_needs_reauth(sandbox, db):
    user = connect_user(sandbox, db)
    crm = SalesforceCRM.for_user(user)
    sandbox.control("/_sandbox/salesforce/grants/revoke", {"username": USER_A})
    with pytest.raises(CRMAuthError):
        crm.find_people(["someone@acme.test"])
    db.expire_all()
    conn = db.scalar(select(SalesforceConnection))
    assert conn.needs_reauth and conn.needs_reauth_since is not None
    assert "invalid_grant" in conn.last_error
    with pytest.raises(CRMAuthError):
        SalesforceCRM.for_user(user)


def test_disconnect_revokes_and_forgets(sandbox, client, db):
    user = connect_user(sandbox, db)
    token = issue_session(user)
    answer = client.post(
        "/api/crm/salesforce/disconnect", headers={"Authorization": f"Bearer {token}"}
    )
    assert answer.status_code == 200 and answer.get_json() == {"connected": False}
    db.expire_all()
    assert db.scalar(select(SalesforceConnection)) is None
    # The refresh token no longer works at Salesforce.
    grants = sandbox.control("/_sandbox/salesforce/grants/revoke", {"username": USER_A})
    assert grants["revoked"] == 0


def test_owner_ids_are_salesforce_user_ids(sandbox, db):
    alex = connect_user(sandbox, db)
    crm = SalesforceCRM.for_user(alex)
    users = sandbox.control("/_sandbox/salesforce/org", {})["users"]
    bianca = User(
        org_id=alex.org_id,
        tenant_id=DEMO_TENANT_ID,
        object_id="oid-b",
        email=f"bianca@{DEMO_DOMAIN}",
    )
    db.add(bianca)
    db.commit()
    assert crm.owner_id_for(alex) == users[USER_A]
    assert crm.owner_id_for(bianca) == users[f"bianca@{DEMO_DOMAIN}"]  # found by address
    assert crm.ledger_target.startswith("salesforce:00D")


def test_an_organisation_can_log_emails_as_tasks(sandbox, db):
    from server.crm.salesforce.budget_store import set_email_mode

    user = connect_user(sandbox, db)
    conn = db.scalar(select(SalesforceConnection))
    assert SalesforceCRM.for_user(user).options.email_mode == "enhanced"
    set_email_mode(user.org_id, conn.sf_org_id, "task")
    assert SalesforceCRM.for_user(user).options.email_mode == "task"
    with pytest.raises(ValueError):
        set_email_mode(user.org_id, conn.sf_org_id, "carrier-pigeon")
