"""A small world for the pane API tests: two organisations, a signed-in user in each, and a
few CRM records (an account with a domain and opportunities, a contact, a lead, two contacts
sharing an address, and one record in the other organisation)."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta

from server.auth.sessions import issue_session
from server.crm.builtin.models import (
    CrmAccount,
    CrmAccountDomain,
    CrmContact,
    CrmContactEmail,
    CrmLead,
    CrmOpportunity,
)
from server.models.tenancy import Organisation, OrgDomain, User

NOW = datetime(2026, 11, 20, 9, 30, tzinfo=UTC)


@dataclass
class World:
    user: User
    other_user: User
    headers: dict[str, str]
    other_headers: dict[str, str]
    ids: dict[str, str] = field(default_factory=dict)


def _org(db, tenant: str, domain: str, name: str) -> Organisation:
    org = Organisation(tenant_id=tenant, name=name)
    org.domains.append(OrgDomain(domain=domain))
    db.add(org)
    db.flush()
    return org


def _user(db, org: Organisation, email: str, name: str, object_id: str) -> User:
    user = User(
        org_id=org.id,
        tenant_id=org.tenant_id,
        object_id=object_id,
        email=email,
        display_name=name,
        aliases=[],
    )
    db.add(user)
    db.flush()
    return user


def _contact(
    db,
    org_id: int,
    name: str,
    emails: list[str],
    account_id: int | None,
    owner: str | None,
    last: datetime | None = None,
) -> CrmContact:
    contact = CrmContact(
        org_id=org_id,
        name=name,
        account_id=account_id,
        owner_id=owner,
        title="Buyer",
        last_activity_at=last,
    )
    db.add(contact)
    db.flush()
    for email in emails:
        db.add(CrmContactEmail(org_id=org_id, contact_id=contact.id, email=email))
    return contact


def build_world(db) -> World:
    org = _org(db, "tenant-a", "courier-demo.test", "Courier Demo")
    other = _org(db, "tenant-b", "other.test", "Other Org")
    user = _user(db, org, "alex@courier-demo.test", "Alex Morgan", "oid-alex")
    other_user = _user(db, other, "olga@other.test", "Olga Petrova", "oid-olga")
    owner = str(user.id)
    acme = CrmAccount(org_id=org.id, name="Acme Corp", owner_id=owner)
    db.add(acme)
    db.flush()
    db.add(CrmAccountDomain(org_id=org.id, account_id=acme.id, domain="acme.test"))
    renewal = CrmOpportunity(
        org_id=org.id,
        name="Acme renewal",
        account_id=acme.id,
        owner_id=owner,
        stage="Proposal",
        is_closed=False,
        amount=48000,
        last_activity_at=NOW - timedelta(days=2),
    )
    old = CrmOpportunity(
        org_id=org.id,
        name="Acme pilot",
        account_id=acme.id,
        owner_id=owner,
        stage="Closed Won",
        is_closed=True,
        amount=5000,
    )
    db.add_all([renewal, old])
    alice = _contact(
        db, org.id, "Alice Archer", ["alice@acme.test"], acme.id, owner, NOW - timedelta(days=1)
    )
    # Two contacts share one address: the owned one is the default pick.
    shared_mine = _contact(db, org.id, "Sam Shared (mine)", ["sam@acme.test"], acme.id, owner)
    shared_other = _contact(
        db, org.id, "Sam Shared (theirs)", ["sam@acme.test"], acme.id, "someone-else", NOW
    )
    lead = CrmLead(
        org_id=org.id, name="Lee Lead", email="lee@leadco.test", company="LeadCo", owner_id=owner
    )
    db.add(lead)
    foreign_account = CrmAccount(org_id=other.id, name="Other Account")
    db.add(foreign_account)
    db.flush()
    foreign = _contact(
        db, other.id, "Foreign Person", ["alice@acme.test"], foreign_account.id, None
    )
    db.commit()
    world = World(
        user=user,
        other_user=other_user,
        headers={"Authorization": f"Bearer {issue_session(user)}"},
        other_headers={"Authorization": f"Bearer {issue_session(other_user)}"},
    )
    world.ids = {
        "acme": str(acme.id),
        "renewal": str(renewal.id),
        "pilot": str(old.id),
        "alice": str(alice.id),
        "sam_mine": str(shared_mine.id),
        "sam_other": str(shared_other.id),
        "lee": str(lead.id),
        "foreign_contact": str(foreign.id),
        "foreign_account": str(foreign_account.id),
    }
    return world


def item(**overrides) -> dict:
    """An email as the pane sends it: from Alice (a known contact) to the user."""
    base = {
        "subject": "Renewal proposal",
        "from": {"address": "alice@acme.test", "name": "Alice Archer"},
        "to": [{"address": "alex@courier-demo.test", "name": "Alex Morgan"}],
        "cc": [],
        "date": "2026-11-20T09:30:00Z",
        "internet_message_id": "<renewal-1@acme.test>",
        "conversation_id": "conv-renewal",
        "item_id": "AAMk-renewal-1",
        "body": "Hello Alex,\nplease find the proposal attached.",
    }
    base.update(overrides)
    return base
