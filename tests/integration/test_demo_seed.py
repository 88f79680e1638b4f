"""The demo seed: deterministic, idempotent, and the shape the demo and matcher rely on."""

from __future__ import annotations

from collections import Counter

from sqlalchemy import func, select

from server.crm.builtin.adapter import BuiltinCRM
from server.crm.builtin.demo_data import DEFAULT_SEED, demo_crm
from server.crm.builtin.models import CrmContactEmail, CrmLead, CrmOpportunity
from server.demo import crm_counts, demo_is_seeded, demo_org, seed_demo
from server.models.tenancy import Organisation, User
from server.sandbox.directory import DEMO_TENANT_ID, DEMO_USERS, OTHER_TENANT_ID


def test_the_generator_is_deterministic_per_seed():
    generate = demo_crm.__wrapped__  # bypass the cache: really generate twice
    assert generate(DEFAULT_SEED) == generate(DEFAULT_SEED)
    assert generate(DEFAULT_SEED) != generate(DEFAULT_SEED + 1)


def test_the_generated_people_include_the_awkward_cases():
    data = demo_crm()
    assert len(data.accounts) >= 200 and len(data.contacts) == 1_000
    assert len(data.leads) == 300 and len(data.opportunities) == 400
    per_contact = Counter(len(c.emails) for c in data.contacts)
    assert per_contact[2] > 0 and per_contact[3] > 0
    holders = Counter(e for c in data.contacts for e in c.emails)
    assert any(n == 2 for n in holders.values())  # shared by two contacts
    assert sum(1 for lead in data.leads if lead.email in holders) >= 20
    domains = [d for a in data.accounts for d in a.domains]
    assert len(domains) == len(set(domains))
    assert {o.is_closed for o in data.opportunities} == {True, False}


def test_the_scale_option_has_the_benchmark_sizes():
    data = demo_crm(scale=True)
    assert len(data.contacts) == 100_000 and len(data.accounts) == 20_000
    assert len(data.opportunities) == 50_000
    domains = [d for a in data.accounts for d in a.domains]
    assert len(domains) == len(set(domains))
    addresses = {e for c in data.contacts for e in c.emails}
    assert len(addresses) > 95_000  # a few shared addresses, as in real CRMs


def test_seeding_creates_the_demo_once(db):
    assert not demo_is_seeded(db)
    first = seed_demo(db)
    db.commit()
    assert first["organisations"] == 2 and first["users"] == len(DEMO_USERS)
    assert first["contacts"] == 1_000 and first["leads"] == 300
    assert first["opportunities"] == 400 and first["accounts"] >= 200
    assert demo_is_seeded(db)

    second = seed_demo(db)
    db.commit()
    assert not any(second.values())
    org = demo_org(db)
    assert crm_counts(db, org.id) == {
        "accounts": first["accounts"],
        "contacts": 1_000,
        "leads": 300,
        "opportunities": 400,
    }
    assert db.scalar(select(func.count()).select_from(Organisation)) == 2


def test_seeded_users_roles_and_owners(db):
    seed_demo(db)
    db.commit()
    users = {u.object_id: u for u in db.scalars(select(User))}
    alex = users[DEMO_USERS[0].object_id]
    assert alex.role == "admin" and alex.tenant_id == DEMO_TENANT_ID
    assert users[DEMO_USERS[1].object_id].role == "user"
    other_org = db.scalar(select(Organisation).where(Organisation.tenant_id == OTHER_TENANT_ID))
    assert other_org is not None and crm_counts(db, other_org.id)["contacts"] == 0
    demo_user_ids = {str(u.id) for u in users.values() if u.tenant_id == DEMO_TENANT_ID}
    owners = set(db.scalars(select(CrmOpportunity.owner_id)))
    assert owners <= demo_user_ids and len(owners) > 1


def test_seeded_crm_answers_lookups(db):
    seed_demo(db)
    db.commit()
    org = demo_org(db)
    crm = BuiltinCRM(db, org.id)
    data = demo_crm()
    multi = next(c for c in data.contacts if len(c.emails) == 3)
    found = crm.find_people([multi.emails[2].upper()])
    [person] = [p for p in found[multi.emails[2]] if p.ref.type == "contact"]
    assert sorted(person.emails) == sorted(multi.emails) and person.name == multi.name
    lead_email = db.scalar(
        select(CrmLead.email)
        .join(CrmContactEmail, CrmContactEmail.email == CrmLead.email)
        .where(CrmLead.converted.is_(False))
        .limit(1)
    )
    kinds = {p.ref.type for p in crm.find_people([lead_email])[lead_email]}
    assert kinds == {"contact", "lead"}


def test_the_command_says_when_there_is_nothing_to_do(app):
    runner = app.test_cli_runner()
    first = runner.invoke(args=["seed-demo"])
    assert first.exit_code == 0 and "1000 contacts" in first.output
    second = runner.invoke(args=["seed-demo"])
    assert second.exit_code == 0 and "nothing to do" in second.output
