"""Harnesses for the CRM contract suite (tests/integration/test_crm_contract.py).

Every CRM adapter passes the same contract tests. A harness gives the suite a CRM instance and
a way to put records into that CRM *behind the adapter's back* (the way a salesperson would),
so the tests exercise the adapter's reads and writes against real data.

To add an adapter: write a factory `def make_<name>_harness(request) -> CRMHarness` (it may
use pytest fixtures through `request.getfixturevalue`, and `request.addfinalizer` for
cleanup) and register it with `HARNESSES["<name>"] = make_<name>_harness`, in this module or
from a module imported by it. The `crm_harness` fixture is parametrized over HARNESSES.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Sequence
from contextlib import AbstractContextManager, contextmanager
from datetime import date
from typing import Protocol

import pytest
from sqlalchemy import event
from sqlalchemy.orm import Session

from server.crm.base import CRM
from server.crm.builtin.adapter import BuiltinCRM
from server.crm.builtin.models import (
    CrmAccount,
    CrmAccountDomain,
    CrmContact,
    CrmContactEmail,
    CrmLead,
    CrmOpportunity,
)
from server.models.tenancy import Organisation, OrgDomain, User


class CRMHarness(Protocol):
    name: str
    crm: CRM
    # Two CRM owner ids (users) of the same organisation.
    owner_a: str
    owner_b: str

    def add_account(self, name: str, domains: Sequence[str] = (), owner: str | None = None) -> str:
        """Create an account owning these domains; returns its CRM id."""

    def add_contact(
        self,
        name: str,
        emails: Sequence[str],
        account_id: str | None = None,
        owner: str | None = None,
    ) -> str:
        """Create a contact with these addresses (primary first); returns its CRM id."""

    def add_lead(
        self, name: str, email: str, company: str = "", owner: str | None = None
    ) -> str: ...

    def add_opportunity(
        self,
        name: str,
        account_id: str,
        owner: str | None = None,
        stage: str = "Prospecting",
        is_closed: bool = False,
        amount: float | None = None,
        close_date: date | None = None,
    ) -> str: ...

    def commit(self) -> None:
        """Make the records added (and the adapter's writes) durable and visible."""

    def round_trips(self) -> AbstractContextManager[list[int]]:
        """Counts the calls to the CRM's store made in the block (database statements for
        the built-in CRM, API calls for Salesforce): `with h.round_trips() as n: ...; n[0]`."""


HarnessFactory = Callable[[pytest.FixtureRequest], CRMHarness]


class BuiltinHarness:
    name = "builtin"

    def __init__(self, session: Session, tenant_id: str = "contract-tenant"):
        self.session = session
        org = Organisation(tenant_id=tenant_id, name="Contract Org")
        org.domains = [OrgDomain(domain=f"{tenant_id}.test")]
        session.add(org)
        session.flush()
        users = [
            User(org_id=org.id, tenant_id=tenant_id, object_id=f"user-{n}", email=f"u{n}@x.test")
            for n in (1, 2)
        ]
        session.add_all(users)
        session.flush()
        self.org_id = org.id
        self.users = users
        self.crm = BuiltinCRM(session, org.id)
        self.owner_a = self.crm.owner_id_for(users[0]) or ""
        self.owner_b = self.crm.owner_id_for(users[1]) or ""
        session.commit()

    def _add(self, row):
        self.session.add(row)
        self.session.flush()
        return row

    def add_account(self, name, domains=(), owner=None) -> str:
        account = self._add(CrmAccount(org_id=self.org_id, name=name, owner_id=owner))
        for domain in domains:
            self._add(
                CrmAccountDomain(org_id=self.org_id, account_id=account.id, domain=domain.lower())
            )
        return str(account.id)

    def add_contact(self, name, emails, account_id=None, owner=None) -> str:
        contact = self._add(
            CrmContact(
                org_id=self.org_id,
                name=name,
                account_id=int(account_id) if account_id else None,
                owner_id=owner,
            )
        )
        for email in emails:
            self._add(
                CrmContactEmail(org_id=self.org_id, contact_id=contact.id, email=email.lower())
            )
        return str(contact.id)

    def add_lead(self, name, email, company="", owner=None, converted=False) -> str:
        lead = self._add(
            CrmLead(
                org_id=self.org_id,
                name=name,
                email=email.lower(),
                company=company,
                owner_id=owner,
                converted=converted,
            )
        )
        return str(lead.id)

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
        opportunity = self._add(
            CrmOpportunity(
                org_id=self.org_id,
                name=name,
                account_id=int(account_id),
                owner_id=owner,
                stage=stage,
                is_closed=is_closed,
                amount=amount,
                close_date=close_date,
            )
        )
        return str(opportunity.id)

    def commit(self) -> None:
        self.session.commit()

    @contextmanager
    def round_trips(self) -> Iterator[list[int]]:
        """Counts the database statements run inside the block (into the yielded list)."""
        count = [0]

        def on_execute(*_args):
            count[0] += 1

        engine = self.session.get_bind()
        event.listen(engine, "before_cursor_execute", on_execute)
        try:
            yield count
        finally:
            event.remove(engine, "before_cursor_execute", on_execute)


def make_builtin_harness(request: pytest.FixtureRequest) -> BuiltinHarness:
    return BuiltinHarness(request.getfixturevalue("db"))


HARNESSES: dict[str, HarnessFactory] = {"builtin": make_builtin_harness}

from . import salesforce_harness as _salesforce_harness  # noqa: E402,F401  (registers "salesforce")
