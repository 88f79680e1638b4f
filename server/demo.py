"""Seed the demo: the sandbox tenants' organisations and users, and the demo built-in CRM.

Deterministic (server.crm.builtin.demo_data) and idempotent: a second run finds everything in
place and writes nothing. Records are written with bulk inserts, so even `--scale` (100,000
contacts) takes seconds. `seed_demo` flushes and commits nothing; the command commits.
"""

from __future__ import annotations

import time
from typing import Any

import click
from flask.cli import with_appcontext
from sqlalchemy import func, insert, select
from sqlalchemy.orm import Session

from .crm.builtin import demo_data
from .crm.builtin.models import (
    CrmAccount,
    CrmAccountDomain,
    CrmContact,
    CrmContactEmail,
    CrmLead,
    CrmOpportunity,
)
from .db import utcnow
from .models.policy import OrgPolicy
from .models.tenancy import Organisation, OrgDomain, User
from .policy.validation import validate_settings
from .sandbox.directory import (
    DEMO_DOMAIN,
    DEMO_TENANT_ID,
    GLOBAL_ADMIN_ROLE,
    OTHER_DOMAIN,
    OTHER_TENANT_ID,
    users_of,
)
from .sandbox.mailbox import LABEL_POLICY

ORGANISATIONS = (
    (DEMO_TENANT_ID, "Courier Demo", DEMO_DOMAIN),
    (OTHER_TENANT_ID, "Northwind (other tenant)", OTHER_DOMAIN),
)
CHUNK = 5_000


def demo_org(session: Session) -> Organisation | None:
    return session.scalar(select(Organisation).where(Organisation.tenant_id == DEMO_TENANT_ID))


def demo_is_seeded(session: Session) -> bool:
    """True when the demo organisation exists and its built-in CRM has records."""
    org = demo_org(session)
    if org is None:
        return False
    return (
        session.scalar(select(CrmAccount.id).where(CrmAccount.org_id == org.id).limit(1))
        is not None
    )


def ensure_organisations(session: Session) -> dict[str, int]:
    """Create the sandbox tenants' organisations and users that are missing."""
    created = {"organisations": 0, "users": 0}
    for tenant_id, name, domain in ORGANISATIONS:
        org = session.scalar(select(Organisation).where(Organisation.tenant_id == tenant_id))
        if org is None:
            org = Organisation(tenant_id=tenant_id, name=name, domains=[OrgDomain(domain=domain)])
            session.add(org)
            session.flush()
            created["organisations"] += 1
        for person in users_of(tenant_id):
            exists = session.scalar(
                select(User.id).where(
                    User.tenant_id == tenant_id, User.object_id == person.object_id
                )
            )
            if exists is not None:
                continue
            session.add(
                User(
                    org_id=org.id,
                    tenant_id=tenant_id,
                    object_id=person.object_id,
                    email=person.email.lower(),
                    display_name=person.display_name,
                    aliases=[a.lower() for a in person.aliases],
                    role="admin" if GLOBAL_ADMIN_ROLE in person.wids else "user",
                    admin_by_directory=GLOBAL_ADMIN_ROLE in person.wids,
                )
            )
            created["users"] += 1
    session.flush()
    return created


def ensure_demo_policy(session: Session) -> int:
    """The demo organisation's data controls, set once (an administrator's later changes
    stay): auto-save of all relevant email, as the sandbox mailbox's labels assume, so the
    demo's first sync saves the customer email and the pane shows it saved. Returns 1 when
    it set them. New organisations keep the built-in defaults (auto-save threads only)."""
    org = demo_org(session)
    if org is None:
        return 0
    if session.scalar(select(OrgPolicy.id).where(OrgPolicy.org_id == org.id)) is not None:
        return 0
    session.add(OrgPolicy(org_id=org.id, settings=validate_settings(LABEL_POLICY, "org")))
    session.flush()
    return 1


def _insert_returning_ids(session: Session, table: Any, rows: list[dict]) -> list[int]:
    """Bulk insert keeping the new ids in row order (one multi-row INSERT per batch)."""
    ids: list[int] = []
    stmt = insert(table).returning(table.c.id, sort_by_parameter_order=True)
    for start in range(0, len(rows), CHUNK):
        result = session.connection().execute(stmt, rows[start : start + CHUNK])
        ids.extend(result.scalars().all())
    return ids


def _insert(session: Session, table: Any, rows: list[dict]) -> None:
    for start in range(0, len(rows), CHUNK):
        session.connection().execute(insert(table), rows[start : start + CHUNK])


def write_crm(session: Session, org_id: int, data: demo_data.DemoCRM) -> dict[str, int]:
    """Bulk-write the demo CRM for this organisation; returns the counts written."""
    users = session.execute(select(User.object_id, User.id).where(User.org_id == org_id)).all()
    owner = {object_id: str(user_id) for object_id, user_id in users}
    now = utcnow()

    account_ids = _insert_returning_ids(
        session,
        CrmAccount.__table__,
        [
            {"org_id": org_id, "name": a.name, "owner_id": owner.get(a.owner), "created_at": now}
            for a in data.accounts
        ],
    )
    domains = [
        {"org_id": org_id, "account_id": account_ids[a.index], "domain": d}
        for a in data.accounts
        for d in a.domains
    ]
    _insert(session, CrmAccountDomain.__table__, domains)

    contact_ids = _insert_returning_ids(
        session,
        CrmContact.__table__,
        [
            {
                "org_id": org_id,
                "name": c.name,
                "title": c.title,
                "account_id": account_ids[c.account] if c.account is not None else None,
                "owner_id": owner.get(c.owner),
                "created_at": now,
            }
            for c in data.contacts
        ],
    )
    emails = [
        {"org_id": org_id, "contact_id": contact_ids[c.index], "email": e}
        for c in data.contacts
        for e in c.emails
    ]
    _insert(session, CrmContactEmail.__table__, emails)

    _insert(
        session,
        CrmLead.__table__,
        [
            {
                "org_id": org_id,
                "name": lead.name,
                "email": lead.email,
                "company": lead.company,
                "status": "Converted" if lead.converted else lead.status,
                "converted": lead.converted,
                "owner_id": owner.get(lead.owner),
                "created_at": now,
            }
            for lead in data.leads
        ],
    )
    _insert(
        session,
        CrmOpportunity.__table__,
        [
            {
                "org_id": org_id,
                "name": o.name,
                "account_id": account_ids[o.account],
                "owner_id": owner.get(o.owner),
                "stage": o.stage,
                "is_closed": o.is_closed,
                "amount": o.amount,
                "close_date": o.close_date,
                "created_at": now,
            }
            for o in data.opportunities
        ],
    )
    return {
        "accounts": len(account_ids),
        "account_domains": len(domains),
        "contacts": len(contact_ids),
        "contact_emails": len(emails),
        "leads": len(data.leads),
        "opportunities": len(data.opportunities),
    }


def seed_demo(
    session: Session, scale: bool = False, seed: int = demo_data.DEFAULT_SEED
) -> dict[str, int]:
    """Seed what is missing; returns the counts of rows created (all zero when seeded).

    Does not commit: the caller does, so a failure leaves nothing half-written.
    """
    counts = ensure_organisations(session)
    counts["demo_policy"] = ensure_demo_policy(session)
    written = dict.fromkeys(
        ("accounts", "account_domains", "contacts", "contact_emails", "leads", "opportunities"), 0
    )
    if not demo_is_seeded(session):
        org = demo_org(session)
        if org is None:  # ensure_organisations creates it; only a concurrent delete gets here
            raise RuntimeError("the demo organisation vanished while seeding")
        written = write_crm(session, org.id, demo_data.demo_crm(seed, scale))
    session.flush()
    return {**counts, **written}


def crm_counts(session: Session, org_id: int) -> dict[str, int]:
    """How many records of each kind the organisation's built-in CRM holds."""
    tables = {
        "accounts": CrmAccount,
        "contacts": CrmContact,
        "leads": CrmLead,
        "opportunities": CrmOpportunity,
    }
    return {
        name: session.scalar(select(func.count()).select_from(t).where(t.org_id == org_id)) or 0
        for name, t in tables.items()
    }


@click.command("seed-demo", help="Create the demo organisations, users and built-in CRM.")
@click.option("--scale", is_flag=True, help="A large CRM (100,000 contacts) for benchmarks.")
@click.option("--seed", default=demo_data.DEFAULT_SEED, show_default=True, type=int)
@with_appcontext
def seed_demo_command(scale: bool, seed: int) -> None:
    from .db import get_session

    session = get_session()
    started = time.perf_counter()
    counts = seed_demo(session, scale=scale, seed=seed)
    session.commit()
    if not any(counts.values()):
        click.echo("demo data already present; nothing to do")
        return
    made = ", ".join(f"{n} {name}" for name, n in counts.items() if n)
    click.echo(f"demo data seeded in {time.perf_counter() - started:.1f}s: {made}")
