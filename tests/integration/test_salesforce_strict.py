"""The sandbox's Salesforce is as strict as the real one, and Courier keeps to its rules:
restricted picklists (never an invalid RelationType), refresh token rotation, and Composite
subrequests that may come back in any order (issue 16, points 3 and 6)."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest
import requests
from sqlalchemy import select

from server.auth.crypto import decrypt_text
from server.crm.base import ActivityDraft, ActivityParticipant, LeadDraft, Link, RecordRef
from server.crm.salesforce import SalesforceCRM
from server.crm.salesforce.tokens import OAuthSettings, refresh_access_token
from server.http import make_http_session
from server.models.crm_connections import SalesforceConnection
from server.sandbox.salesforce_store import API_VERSION

from .salesforce_harness import connect_user, salesforce_settings

T0 = datetime(2026, 3, 2, 9, 0, tzinfo=UTC)
BASE = f"/services/data/v{API_VERSION}"
PICKLIST_ERROR = "INVALID_OR_NULL_FOR_RESTRICTED_PICKLIST"


@pytest.fixture
def app_config(sandbox):
    return salesforce_settings(sandbox)


@pytest.fixture
def user(sandbox, db):
    return connect_user(sandbox, db)


def _record(sandbox, sobject: str, fields: dict) -> str:
    answer = sandbox.control("/_sandbox/salesforce/records", {"sobject": sobject, "fields": fields})
    return answer["id"]


def _records(sandbox, sobject: str) -> list[dict]:
    answer = sandbox.control(f"/_sandbox/salesforce/records?sobject={sobject}", method="GET")
    return answer["records"]


def _rest(sandbox, token: str, method: str, path: str, body=None) -> requests.Response:
    return sandbox.http.request(
        method,
        f"{sandbox.url}{BASE}/{path}",
        json=body,
        headers={"Authorization": f"Bearer {token}"},
        timeout=10,
    )


@pytest.fixture
def token(sandbox, user):
    return sandbox.control("/_sandbox/salesforce/grants", {"username": user.email})["access_token"]


# --- restricted picklists ----------------------------------------------------------------------


def test_values_outside_restricted_picklists_are_refused_in_every_resource(sandbox, token):
    account = _record(sandbox, "Account", {"Name": "Acme"})
    ana = _record(sandbox, "Contact", {"LastName": "Bauer", "Email": "ana@acme.test"})
    email = _record(sandbox, "EmailMessage", {"Status": "3", "Subject": "Quote"})
    bad = {"EmailMessageId": email, "RelationId": ana, "RelationType": "OtherAddress"}

    single = _rest(sandbox, token, "POST", "sobjects/EmailMessageRelation", bad)
    assert single.status_code == 400
    assert single.json() == [
        {
            "message": "Relation Type: bad value for restricted picklist field: OtherAddress",
            "errorCode": PICKLIST_ERROR,
            "fields": ["RelationType"],
        }
    ]

    records = [
        {"attributes": {"type": "EmailMessageRelation"}, **bad},
        {"attributes": {"type": "Task"}, "Subject": "Call", "TaskSubtype": "Meeting"},
        {"attributes": {"type": "EmailMessage"}, "Subject": "Quote", "Status": "Sent"},
        {
            "attributes": {"type": "Task"},
            "Subject": "Email",
            "TaskSubtype": "Email",
            "WhatId": account,
        },
    ]
    results = _rest(
        sandbox, token, "POST", "composite/sobjects", {"allOrNone": False, "records": records}
    ).json()
    assert [r["success"] for r in results] == [False, False, False, True]
    assert [r["errors"][0]["statusCode"] for r in results[:3]] == [PICKLIST_ERROR] * 3
    assert [r["errors"][0]["fields"] for r in results[:3]] == [
        ["RelationType"],
        ["TaskSubtype"],
        ["Status"],
    ]

    composite = _rest(
        sandbox,
        token,
        "POST",
        "composite",
        {
            "compositeRequest": [
                {
                    "method": "POST",
                    "url": f"{BASE}/sobjects/EmailMessageRelation",
                    "referenceId": "rel",
                    "body": bad,
                }
            ]
        },
    ).json()["compositeResponse"]
    assert composite[0]["httpStatusCode"] == 400
    assert composite[0]["body"][0]["errorCode"] == PICKLIST_ERROR
    assert composite[0]["body"][0]["fields"] == ["RelationType"]


def test_a_person_not_on_the_email_is_never_sent_as_a_relation(sandbox, user):
    """An Enhanced Email relates people only as sender and recipients: a person linked to it who
    is neither is left out (and not reported as stored), instead of an invalid RelationType."""
    account = _record(sandbox, "Account", {"Name": "Acme", "Website": "https://acme.test"})
    ana = RecordRef("contact", _record(sandbox, "Contact", {"LastName": "Bauer"}))
    ben = RecordRef("contact", _record(sandbox, "Contact", {"LastName": "Cruz"}))
    cy = RecordRef("contact", _record(sandbox, "Contact", {"LastName": "Cy", "Email": "cy@x.test"}))
    crm = SalesforceCRM.for_user(user)
    draft = ActivityDraft(
        key="<related@acme.test>",
        kind="email",
        subject="Quote",
        start=T0,
        participants=[
            ActivityParticipant("ana@acme.test", "Ana", "from"),
            ActivityParticipant("CY@x.test", "Cy", "cc"),
        ],
        # Ben is not on the email; Cy is, but comes linked without a role (as a thread rule
        # or a search links records): Cy gets the role of his address on this email.
        links=[Link(ana, "from"), Link(ben), Link(cy), Link(RecordRef("account", account))],
    )
    [logged] = crm.log_emails([draft])
    kept = {Link(ana, "from"), Link(cy, "cc"), Link(RecordRef("account", account))}
    assert set(logged.links) == kept
    relations = _records(sandbox, "EmailMessageRelation")
    assert {(r["RelationId"], r["RelationType"]) for r in relations} == {
        (ana.id, "FromAddress"),
        (cy.id, "CcAddress"),
    }
    # Logging it again asks for nothing new and writes nothing.
    [again] = crm.log_emails([draft])
    assert again.id == logged.id and again.added_links == []
    assert len(_records(sandbox, "EmailMessageRelation")) == 2


def test_a_new_lead_gets_the_orgs_default_status(sandbox, user):
    """Lead.Status values are the org's own ("Open - Not Contacted" in a new org): a lead
    created without a status takes the default rather than a value the org may not have."""
    lead = SalesforceCRM.for_user(user).create_lead(LeadDraft(name="Lea Kim", email="lea@kim.test"))
    [stored] = [r for r in _records(sandbox, "Lead") if r["Id"] == lead.ref.id]
    assert stored["Status"] == "Open - Not Contacted" and lead.status == stored["Status"]


# --- refresh token rotation --------------------------------------------------------------------


def _stored_refresh_token(db) -> str:
    db.commit()  # a fresh transaction sees what the token code committed meanwhile
    db.expire_all()
    return decrypt_text(db.scalar(select(SalesforceConnection)).refresh_token_encrypted)


def _refresh_with(sandbox, refresh_token: str) -> requests.Response:
    return sandbox.http.post(
        f"{sandbox.url}/salesforce/services/oauth2/token",
        data={
            "grant_type": "refresh_token",
            "refresh_token": refresh_token,
            "client_id": "courier-dev-sf-client",
            "client_secret": "courier-dev-sf-secret",
        },
        timeout=10,
    )


def test_rotated_refresh_tokens_are_stored_and_the_old_one_is_dead(sandbox, db, user, app):
    sandbox.control("/_sandbox/salesforce/org", {"rotate_refresh_tokens": True})
    first = _stored_refresh_token(db)
    crm = SalesforceCRM.for_user(user)
    for n in range(2):  # each refresh spends the stored token and stores its successor
        before = _stored_refresh_token(db)
        sandbox.control("/_sandbox/salesforce/sessions/expire")
        assert crm.find_people([f"ana@acme{n}.test"]) == {}  # (new domain: not cached)
        after = _stored_refresh_token(db)
        assert after != before
    conn = db.scalar(select(SalesforceConnection))
    assert not conn.needs_reauth
    dead = _refresh_with(sandbox, first)
    assert dead.status_code == 400
    assert dead.json() == {
        "error": "invalid_grant",
        "error_description": "expired access/refresh token",
    }
    assert _refresh_with(sandbox, _stored_refresh_token(db)).json()["refresh_token"]


class _RacingSession(requests.Session):
    """Real HTTP; just before our refresh is sent, another worker refreshes the same
    connection (and, rotation being on, spends the refresh token we are about to send)."""

    def __init__(self, other_worker):
        super().__init__()
        self.other_worker, self.raced = other_worker, False

    def request(self, method, url, *args, **kwargs):
        if method.upper() == "POST" and url.endswith("/oauth2/token") and not self.raced:
            self.raced = True
            self.other_worker()
        kwargs.setdefault("verify", self.verify)  # our CA, whatever the environment says
        return super().request(method, url, *args, **kwargs)


def test_a_refresh_lost_to_another_workers_rotation_is_no_reauth(
    sandbox, db, user, app, redis_client
):
    """Refreshes are serialised by a lock; this is the fall-back for a refresh that outlived
    its lock (a token call hanging past the lock's expiry): the other worker gets the lock
    because it expired, and rotates the token we are about to send."""
    from server.locks import lock_key

    sandbox.control("/_sandbox/salesforce/org", {"rotate_refresh_tokens": True})
    conn_id = db.scalar(select(SalesforceConnection)).id
    oauth = OAuthSettings.from_config()
    theirs: list[str] = []

    def other_worker_after_our_lock_expired() -> None:
        redis_client.delete(lock_key(f"salesforce-token:{conn_id}"))
        theirs.append(refresh_access_token(conn_id, oauth, make_http_session()))

    racing = _RacingSession(other_worker_after_our_lock_expired)
    racing.verify = sandbox.ca_bundle
    mine = refresh_access_token(conn_id, oauth, racing)
    assert racing.raced and mine == theirs[0]
    db.expire_all()
    assert not db.scalar(select(SalesforceConnection)).needs_reauth
    sandbox.control("/_sandbox/salesforce/sessions/expire")
    assert SalesforceCRM.for_user(user).find_people(["nobody@acme.test"]) == {}


# --- Composite subrequests in any order --------------------------------------------------------


def test_composite_results_are_matched_by_reference_id(sandbox, token, user):
    sandbox.control("/_sandbox/salesforce/faults", {"collate_seed": 7})
    names = ["Alpha", "Bravo", "Charlie", "Delta", "Echo"]
    for name in names:
        _record(sandbox, "Account", {"Name": name})
    statements = [f"SELECT Id, Name FROM Account WHERE Name = '{name}'" for name in names]
    raw = _rest(
        sandbox,
        token,
        "POST",
        "composite",
        {
            "compositeRequest": [
                {"method": "GET", "url": f"{BASE}/query?q={s}", "referenceId": f"q{i}"}
                for i, s in enumerate(statements)
            ]
        },
    ).json()["compositeResponse"]
    order = [answer["referenceId"] for answer in raw]
    assert sorted(order) == [f"q{i}" for i in range(5)] and order != sorted(order)

    crm = SalesforceCRM.for_user(user)
    results = crm.client.queries(statements)
    assert [[row["Name"] for row in rows] for rows in results] == [[name] for name in names]

    # Writes chain on earlier results (@{parents[0].id}): those still run after them.
    ana = RecordRef("contact", _record(sandbox, "Contact", {"LastName": "Bauer"}))
    ben = RecordRef("contact", _record(sandbox, "Contact", {"LastName": "Cruz"}))
    draft = ActivityDraft(
        key="<collated@acme.test>",
        kind="email",
        subject="Quote",
        start=T0,
        participants=[ActivityParticipant("ana@acme.test", "Ana", "from")],
        links=[Link(ana, "from"), Link(ben, "to")],
    )
    [logged] = crm.log_emails([draft])
    assert logged.created and set(logged.links) == {Link(ana, "from"), Link(ben, "to")}
    found = crm.find_activities(["<collated@acme.test>"])["<collated@acme.test>"]
    assert found.id == logged.id and set(found.links) == set(logged.links)


def test_collation_can_be_turned_off_per_request(sandbox, token):
    sandbox.control("/_sandbox/salesforce/faults", {"collate_seed": 7})
    raw = _rest(
        sandbox,
        token,
        "POST",
        "composite",
        {
            "collateSubrequests": False,
            "compositeRequest": [
                {"method": "GET", "url": f"{BASE}/query?q=SELECT Id FROM Account", "referenceId": r}
                for r in ("a", "b", "c", "d", "e")
            ],
        },
    ).json()["compositeResponse"]
    assert [answer["referenceId"] for answer in raw] == ["a", "b", "c", "d", "e"]
