"""The Salesforce harness of the CRM contract suite: SalesforceCRM over HTTPS to the sandbox's
Salesforce, with records arranged through the sandbox's control endpoints (as a salesperson
would add them in Salesforce), in an org that starts empty."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from datetime import date

import pytest
from flask import current_app

from server.crm.salesforce import SalesforceCRM
from server.crm.salesforce.tokens import store_connection
from server.models.tenancy import Organisation, OrgDomain, User
from server.sandbox.directory import DEMO_DOMAIN, DEMO_TENANT_ID

from .crm_harness import HARNESSES

USER_A = f"alex@{DEMO_DOMAIN}"
USER_B = f"bianca@{DEMO_DOMAIN}"
EMAIL_FIELDS = ("Email", "Alternate_Email__c", "Other_Email__c")
DOMAIN_FIELDS = ("Website", "Other_Domains__c")


def salesforce_settings(sandbox) -> dict:
    """The settings that point Courier at the sandbox's Salesforce (org schema included)."""
    return {
        **sandbox.settings(),
        "SALESFORCE_CONTACT_EMAIL_FIELDS": EMAIL_FIELDS,
        "SALESFORCE_ACCOUNT_DOMAIN_FIELDS": DOMAIN_FIELDS,
        "SALESFORCE_RETRY_BASE_MS": 10,
    }


def connect_user(sandbox, session, username: str = USER_A, seed_demo: bool = False) -> User:
    """A Courier user in the demo org, connected to the sandbox Salesforce as `username`."""
    if seed_demo is not None:
        sandbox.control("/_sandbox/salesforce/reset", {"seed_demo": seed_demo})
    org = session.query(Organisation).filter_by(tenant_id=DEMO_TENANT_ID).one_or_none()
    if org is None:
        org = Organisation(tenant_id=DEMO_TENANT_ID, name="Courier Demo")
        org.domains = [OrgDomain(domain=DEMO_DOMAIN)]
        session.add(org)
        session.flush()
    user = User(org_id=org.id, tenant_id=DEMO_TENANT_ID, object_id=f"sf-{username}", email=username)
    session.add(user)
    session.commit()
    grant = sandbox.control("/_sandbox/salesforce/grants", {"username": username})
    store_connection(user, grant, username)
    return user


class SalesforceHarness:
    name = "salesforce"

    def __init__(self, sandbox, session):
        self.sandbox, self.session = sandbox, session
        current_app.config.update(salesforce_settings(sandbox))
        self.user = connect_user(sandbox, session)
        users = sandbox.control("/_sandbox/salesforce/org", {})["users"]
        self.owner_a, self.owner_b = users[USER_A], users[USER_B]
        self.crm = SalesforceCRM.for_user(self.user)

    def _create(self, sobject: str, fields: dict) -> str:
        clean = {k: v for k, v in fields.items() if v is not None}
        return self.sandbox.control(
            "/_sandbox/salesforce/records", {"sobject": sobject, "fields": clean}
        )["id"]

    @staticmethod
    def _names(name: str) -> dict:
        first, _, last = name.rpartition(" ")
        return {"FirstName": first or None, "LastName": last}

    def add_account(self, name, domains=(), owner=None) -> str:
        domains = list(domains)
        return self._create(
            "Account",
            {
                "Name": name,
                "OwnerId": owner,
                "Website": f"https://{domains[0]}" if domains else None,
                "Other_Domains__c": ";".join(domains[1:]) or None,
            },
        )

    def add_contact(self, name, emails, account_id=None, owner=None) -> str:
        emails = list(emails)
        assert len(emails) <= len(EMAIL_FIELDS), "the sandbox org has three email fields"
        fields = {**self._names(name), "AccountId": account_id, "OwnerId": owner}
        fields.update(dict(zip(EMAIL_FIELDS, emails, strict=False)))
        return self._create("Contact", fields)

    def add_lead(self, name, email, company="", owner=None, converted=False) -> str:
        return self._create(
            "Lead",
            {
                **self._names(name),
                "Email": email,
                "Company": company or "[not provided]",
                "OwnerId": owner,
                "IsConverted": converted,
            },
        )

    def add_opportunity(
        self,
        name,
        account_id,
        owner=None,
        stage="Prospecting",
        is_closed=False,
        amount=None,
        close_date=None,
    ) -> str:
        return self._create(
            "Opportunity",
            {
                "Name": name,
                "AccountId": account_id,
                "OwnerId": owner,
                "StageName": stage,
                "Amount": amount,
                "CloseDate": (close_date or date(2026, 12, 31)).isoformat(),
            },
        )

    def commit(self) -> None:
        self.session.commit()

    @contextmanager
    def round_trips(self) -> Iterator[list[int]]:
        """Counts the Salesforce API calls made inside the block (into the yielded list)."""
        before = self._api_calls()
        count = [0]
        yield count
        count[0] = self._api_calls() - before

    def _api_calls(self) -> int:
        return self.sandbox.control("/_sandbox/salesforce/stats", method="GET")["api_calls"]


def make_salesforce_harness(request: pytest.FixtureRequest) -> SalesforceHarness:
    return SalesforceHarness(request.getfixturevalue("sandbox"), request.getfixturevalue("db"))


HARNESSES["salesforce"] = make_salesforce_harness
