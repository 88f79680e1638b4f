"""Client, sandbox and Salesforce's documentation agree: every response shape Courier reads has
a fixture written after the documented example (tests/contract_fixtures/salesforce/README.md
names the sources); each fixture goes through our parsers, and the sandbox answers the same
request with the same shape (keys, nesting, types)."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlsplit

import pytest
import requests
from lxml import html
from simple_salesforce.exceptions import (
    SalesforceExpiredSession,
    SalesforceMalformedRequest,
    SalesforceRefusedRequest,
)

from server.crm.base import CRMAuthError, CRMValidationError
from server.crm.salesforce.client import (
    Budget,
    SalesforceClient,
    error_code,
    next_records_url,
    save_error,
)
from server.crm.salesforce.tokens import OAuthSettings, _post_token, identity_from
from server.crm.salesforce.writes import duplicate_record_id
from server.sandbox.salesforce_store import API_VERSION

from .salesforce_harness import USER_A, connect_user, salesforce_settings

FIXTURES = Path(__file__).parents[1] / "contract_fixtures" / "salesforce"
BASE = f"/services/data/v{API_VERSION}"
CLIENT = {"client_id": "courier-dev-sf-client", "client_secret": "courier-dev-sf-secret"}


def fixture(name: str) -> Any:
    return json.loads((FIXTURES / name).read_text())


def shape(value: Any) -> Any:
    """Keys, nesting and JSON types; a list by the shape of its first element."""
    if isinstance(value, dict):
        return {key: shape(item) for key, item in value.items()}
    if isinstance(value, list):
        first = value[0] if value else None
        return ["list", shape(first)] if isinstance(first, (dict, list)) else "list"
    if value is None:
        return "null"
    return type(value).__name__


@pytest.fixture
def app_config(sandbox):
    return salesforce_settings(sandbox)


class Org:
    """The sandbox's Salesforce over HTTPS, as one connected user."""

    def __init__(self, sandbox, token: str):
        self.sandbox, self.token = sandbox, token

    def call(self, method: str, path: str, body=None, token: str | None = None):
        url = path if path.startswith("/") else f"{BASE}/{path}"
        return self.sandbox.http.request(
            method,
            f"{self.sandbox.url}{url}",
            json=body,
            headers={"Authorization": f"Bearer {token or self.token}"},
            timeout=10,
        )

    def ok(self, method: str, path: str, body=None) -> Any:
        response = self.call(method, path, body)
        assert response.status_code < 300, response.text
        return response.json()


@pytest.fixture
def org(sandbox, db):
    user = connect_user(sandbox, db)
    grant = sandbox.control("/_sandbox/salesforce/grants", {"username": user.email})
    return Org(sandbox, grant["access_token"])


def test_query_pages_follow_next_records_url(org, sandbox):
    first, last = fixture("query_first_page.json"), fixture("query_last_page.json")
    assert next_records_url(first) == first["nextRecordsUrl"]
    assert next_records_url(last) is None

    sandbox.control("/_sandbox/salesforce/org", {"batch_size": 2})
    for name in ("Test 1", "Test 2", "Test 3"):
        org.ok("POST", "sobjects/Account", {"Name": name})
    page = org.ok("GET", "query?q=SELECT Id, Name FROM Account ORDER BY Name")
    assert shape(page) == shape(first)
    rest = org.ok("GET", next_records_url(page))
    assert shape(rest) == shape(last) and next_records_url(rest) is None


def test_sobject_create(org):
    documented = fixture("sobject_create.json")
    assert save_error(documented) == {} and documented["id"]
    answer = org.call("POST", "sobjects/Account", {"Name": "Salesforce"})
    assert answer.status_code == 201 and shape(answer.json()) == shape(documented)


def test_collections_create_and_update_with_per_record_errors(org):
    created, updated = fixture("collections_create.json"), fixture("collections_update.json")
    assert save_error(created[0]) == {}
    assert duplicate_record_id(save_error(created[1])) == "02sRM000003oLnoYAE"
    assert save_error(updated[1])["statusCode"] == "INVALID_OR_NULL_FOR_RESTRICTED_PICKLIST"

    task = {"attributes": {"type": "Task"}, "Subject": "Call", "Courier_Key__c": "k1"}
    [first] = org.ok("POST", "composite/sobjects", {"records": [task]})
    account = {"attributes": {"type": "Account"}, "Name": "Acme"}
    answer = org.ok("POST", "composite/sobjects", {"allOrNone": False, "records": [account, task]})
    assert [shape(a) for a in answer] == [shape(c) for c in created]
    assert duplicate_record_id(save_error(answer[1])) == first["id"]

    patches = [
        {"attributes": {"type": "Task"}, "id": first["id"], "Subject": "Called"},
        {"attributes": {"type": "Task"}, "id": first["id"], "TaskSubtype": "Meeting"},
    ]
    answer = org.ok("PATCH", "composite/sobjects", {"allOrNone": False, "records": patches})
    assert [shape(a) for a in answer] == [shape(u) for u in updated]
    assert save_error(answer[1]) == updated[1]["errors"][0]


def test_composite_response_by_reference_id(org):
    documented = fixture("composite_response.json")["compositeResponse"]
    by_ref = SalesforceClient.by_reference(documented)
    assert SalesforceClient.subresult(by_ref["NewAccount"])["id"] == "001R00000033I6AIAU"
    assert SalesforceClient.subresult(by_ref["NewAccountRow"])["records"][0]["Name"]
    with pytest.raises(CRMValidationError, match="INVALID_OR_NULL_FOR_RESTRICTED_PICKLIST"):
        SalesforceClient.subresult(by_ref["BadRelation"])

    email = org.ok("POST", "sobjects/EmailMessage", {"Status": "3", "Subject": "Quote"})["id"]
    contact = org.ok("POST", "sobjects/Contact", {"LastName": "Bauer"})["id"]
    query = "SELECT Id, Name FROM Account WHERE Id = '@{NewAccount.id}'"
    answer = org.ok(
        "POST",
        "composite",
        {
            "allOrNone": False,
            "compositeRequest": [
                {
                    "method": "POST",
                    "url": f"{BASE}/sobjects/Account",
                    "referenceId": "NewAccount",
                    "body": {"Name": "Salesforce"},
                },
                {"method": "GET", "url": f"{BASE}/query?q={query}", "referenceId": "NewAccountRow"},
                {
                    "method": "POST",
                    "url": f"{BASE}/sobjects/EmailMessageRelation",
                    "referenceId": "BadRelation",
                    "body": {
                        "EmailMessageId": email,
                        "RelationId": contact,
                        "RelationType": "OtherAddress",
                    },
                },
            ],
        },
    )
    assert list(answer) == ["compositeResponse"]
    served = SalesforceClient.by_reference(answer["compositeResponse"])
    for entry in documented:
        assert shape(served[entry["referenceId"]]) == shape(entry), entry["referenceId"]


@pytest.mark.parametrize(
    ("name", "exception", "status"),
    [
        ("error_restricted_picklist.json", SalesforceMalformedRequest, 400),
        ("error_session_expired.json", SalesforceExpiredSession, 401),
        ("error_request_limit.json", SalesforceRefusedRequest, 403),
    ],
)
def test_error_bodies(org, sandbox, name, exception, status):
    documented = fixture(name)
    assert (
        error_code(exception("url", status, "resource", documented)) == documented[0]["errorCode"]
    )
    if status == 400:
        contact = org.ok("POST", "sobjects/Contact", {"LastName": "Bauer"})["id"]
        email = org.ok("POST", "sobjects/EmailMessage", {"Status": "3"})["id"]
        body = {"EmailMessageId": email, "RelationId": contact, "RelationType": "OtherAddress"}
        answer = org.call("POST", "sobjects/EmailMessageRelation", body)
    elif status == 401:
        answer = org.call("GET", "query?q=SELECT Id FROM Account", token="expired")
    else:
        sandbox.control("/_sandbox/salesforce/faults", {"request_limit_exceeded": 1})
        answer = org.call("GET", "query?q=SELECT Id FROM Account")
    assert answer.status_code == status
    assert shape(answer.json()) == shape(documented)
    assert answer.json()[0]["errorCode"] == documented[0]["errorCode"]


def test_the_limit_info_header_on_every_response(org):
    documented = fixture("limit_info_header.json")["Sforce-Limit-Info"]
    budget = Budget(pause_percent=80, pause_minutes=30)
    budget.observe(documented, datetime.now(UTC))
    assert (budget.used, budget.limit) == (18, 5000)
    for response in (
        org.call("GET", "query?q=SELECT Id FROM Account"),
        org.call("GET", "query?q=SELECT Nope FROM Account"),
    ):
        served = Budget(pause_percent=80, pause_minutes=30)
        served.observe(response.headers["Sforce-Limit-Info"], datetime.now(UTC))
        assert served.used is not None and served.limit == 100_000


def _token(sandbox, form: dict) -> requests.Response:
    return sandbox.http.post(
        f"{sandbox.url}/salesforce/services/oauth2/token", data={**form, **CLIENT}, timeout=10
    )


def test_token_responses(sandbox, db):
    connect_user(sandbox, db)
    documented = fixture("token_authorization_code.json")
    assert identity_from(documented) == ("00DB0000000TfcRMAS", "005B0000005Bk90IAC")

    redirect = "https://courier.test/callback"
    authorize = f"{sandbox.url}/salesforce/services/oauth2/authorize"
    query = {"response_type": "code", "redirect_uri": redirect, "login_hint": USER_A, **CLIENT}
    query.pop("client_secret")
    form = html.fromstring(sandbox.http.get(authorize, params=query).text).forms[0]
    consent = sandbox.http.post(
        authorize, data={**dict(form.fields), "decision": "allow"}, allow_redirects=False
    )
    code = parse_qs(urlsplit(consent.headers["Location"]).query)["code"][0]
    granted = _token(
        sandbox, {"grant_type": "authorization_code", "code": code, "redirect_uri": redirect}
    ).json()
    assert shape(granted) == shape(documented)
    identity_from(granted)  # the sandbox's identity URL parses the same way

    refreshed = _token(
        sandbox, {"grant_type": "refresh_token", "refresh_token": granted["refresh_token"]}
    ).json()
    assert shape(refreshed) == shape(fixture("token_refresh.json"))

    sandbox.control("/_sandbox/salesforce/org", {"rotate_refresh_tokens": True})
    rotated = _token(
        sandbox, {"grant_type": "refresh_token", "refresh_token": granted["refresh_token"]}
    )
    assert shape(rotated.json()) == shape(fixture("token_refresh_rotated.json"))

    refused = _token(
        sandbox, {"grant_type": "refresh_token", "refresh_token": granted["refresh_token"]}
    )
    assert refused.status_code == 400
    assert refused.json() == fixture("token_error_invalid_grant.json")
    oauth = OAuthSettings(f"{sandbox.url}/salesforce", CLIENT["client_id"], CLIENT["client_secret"])
    stale = {"grant_type": "refresh_token", "refresh_token": granted["refresh_token"]}
    with pytest.raises(CRMAuthError, match="invalid_grant"):
        _post_token(stale, oauth, sandbox.http)
