"""The demo CRM as plain data: deterministic for a seed, no I/O.

`demo_crm(seed)` is what server/demo.py writes into the built-in CRM, and what the sandbox's
mailbox generator uses to write emails from and to the same people. Owners are the sandbox
directory's object ids (server.sandbox.directory); the writer maps them to Courier user ids.

The data deliberately contains the awkward cases a matcher must handle: contacts with two or
three addresses, one address shared by two contacts of an account, leads on a contact's
address, converted leads, contacts without an account, accounts with two domains.
"""

from __future__ import annotations

import random
import re
from dataclasses import dataclass
from datetime import date, timedelta
from functools import cache, lru_cache

from ...sandbox.directory import DEMO_TENANT_ID, users_of

DEFAULT_SEED = 20261123
# Close dates are relative to this fixed day so the same seed gives the same data forever.
ANCHOR_DATE = date(2026, 11, 1)
# A free-mail style domain for personal addresses (not a company: no account owns it).
PERSONAL_DOMAIN = "inboxmail.test"


@dataclass(frozen=True)
class Sizes:
    accounts: int
    contacts: int
    leads: int
    opportunities: int


NORMAL = Sizes(accounts=220, contacts=1_000, leads=300, opportunities=400)
SCALE = Sizes(accounts=20_000, contacts=100_000, leads=30_000, opportunities=50_000)


@dataclass(frozen=True)
class DemoAccount:
    index: int
    name: str
    domains: tuple[str, ...]
    owner: str  # directory object id


@dataclass(frozen=True)
class DemoContact:
    index: int
    name: str
    title: str
    account: int | None  # index into accounts
    emails: tuple[str, ...]  # lower-cased, primary first
    owner: str


@dataclass(frozen=True)
class DemoLead:
    index: int
    name: str
    email: str
    company: str
    status: str
    converted: bool
    owner: str


@dataclass(frozen=True)
class DemoOpportunity:
    index: int
    name: str
    account: int
    owner: str
    stage: str
    is_closed: bool
    amount: float
    close_date: date


@dataclass(frozen=True)
class DemoCRM:
    accounts: tuple[DemoAccount, ...]
    contacts: tuple[DemoContact, ...]
    leads: tuple[DemoLead, ...]
    opportunities: tuple[DemoOpportunity, ...]


def _words(text: str) -> tuple[str, ...]:
    return tuple(text.split())


FIRST = _words(
    "Aisha Alan Amara Anders Ana Arjun Astrid Ben Bruno Camila Carlos Chloe Dario Diego Elena "
    "Emma Farah Felix Freya Gabriel Grace Hana Hugo Ines Isaac Ivan Jada James Jonas Julia Kai "
    "Kenji Lara Leo Lina Lucas Maya Mateo Mei Mia Nadia Nikhil Nora Oscar Priya Rafael Rosa "
    "Sara Sofia Tariq Theo Uma Victor Wen Yara Yusuf Zoe"
)
LAST = _words(
    "Adams Ahmed Andersen Baker Bauer Becker Castro Chen Costa Cruz Dubois Eriksen Evans Fischer "
    "Garcia Gomez Haddad Hansen Ito Jensen Kaur Kim Kowalski Larsen Lopez Martin Meyer Moreau "
    "Murphy Nakamura Nguyen Novak Okafor Olsen Patel Perez Petrov Quinn Rossi Santos Schmidt "
    "Silva Singh Sousa Tanaka Torres Vargas Wagner Walsh Weber Yamamoto Young Zhang"
)
WORDS = _words(
    "Acme Apex Arbor Atlas Aurora Beacon Birch Blue Bright Cedar Cobalt Coral Crest Delta "
    "Ember Evergreen Falcon Fern Frontier Granite Harbor Helix Horizon Indigo Iron Juniper "
    "Keystone Lumen Maple Meridian Nimbus North Oak Onyx Orbit Pine Polar Prism Quartz Raven "
    "River Sage Sierra Silver Spruce Summit Terra Tidal Vector Willow Zenith"
)
NOUNS = _words(
    "Analytics Bio Cloud Dynamics Energy Foods Freight Health Labs Logistics Media Motors "
    "Networks Pharma Robotics Software Systems Textiles Ventures Works"
)
SUFFIXES = ("", "", "", " Group", " Inc", " Ltd", " GmbH", " Partners")
TITLES = (
    "CEO",
    "CFO",
    "CTO",
    "VP Sales",
    "VP Engineering",
    "Head of Procurement",
    "Buyer",
    "Operations Manager",
    "IT Director",
    "Product Manager",
    "Office Manager",
    "Analyst",
    "Account Manager",
    "Finance Director",
    "Legal Counsel",
    "",
)
ROLE_MAILBOXES = ("sales", "info", "office", "team", "purchasing")
LEAD_STATUSES = ("Open", "Open", "Working", "Nurturing", "Unqualified")
OPEN_STAGES = ("Prospecting", "Qualification", "Needs Analysis", "Proposal", "Negotiation")
CLOSED_STAGES = ("Closed Won", "Closed Lost")
PRODUCTS = ("Platform licence", "Renewal", "Expansion", "Pilot", "Support plan", "Onboarding")


def demo_owner_ids() -> tuple[str, ...]:
    """Directory object ids of the demo organisation's users, who own the demo records."""
    return tuple(u.object_id for u in users_of(DEMO_TENANT_ID))


@cache  # names and company words repeat a lot at scale
def _slug(text: str) -> str:
    return re.sub(r"[^a-z0-9]+", "-", text.lower()).strip("-")


@cache
def _local(name: str) -> str:
    return ".".join(_slug(part) for part in name.split())


def _company_names(rng: random.Random, count: int, taken: set[str]) -> list[tuple[str, str]]:
    """(name, base domain) pairs, unique by domain."""
    out: list[tuple[str, str]] = []
    while len(out) < count:
        word, noun = rng.choice(WORDS), rng.choice(NOUNS)
        base = f"{_slug(word)}{_slug(noun)}"
        name = f"{word} {noun}{rng.choice(SUFFIXES)}"
        n = 2
        candidate = base
        while candidate in taken:
            candidate, n = f"{base}{n}", n + 1
        if candidate != base:
            name = f"{name} {n - 1}"
        taken.add(candidate)
        out.append((name, candidate))
    return out


def _person_name(rng: random.Random) -> str:
    return f"{rng.choice(FIRST)} {rng.choice(LAST)}"


@lru_cache(maxsize=4)
def demo_crm(seed: int = DEFAULT_SEED, scale: bool = False) -> DemoCRM:
    """The demo CRM for this seed: the same records every time (cached; treat as read-only)."""
    rng = random.Random(seed)
    sizes = SCALE if scale else NORMAL
    owners = demo_owner_ids()
    taken: set[str] = set()

    accounts: list[DemoAccount] = []
    for i, (name, base) in enumerate(_company_names(rng, sizes.accounts, taken)):
        domains = [f"{base}.test"]
        if rng.random() < 0.15:  # a second domain (regional or acquired brand)
            domains.append(f"{base}-{rng.choice(('eu', 'us', 'uk', 'apac'))}.test")
        accounts.append(DemoAccount(i, name, tuple(domains), rng.choice(owners)))

    used: set[str] = set()

    def unique_address(local: str, domain: str) -> str:
        address, n = f"{local}@{domain}", 2
        while address in used:
            address, n = f"{local}{n}@{domain}", n + 1
        used.add(address)
        return address

    contacts: list[DemoContact] = []
    for i in range(sizes.contacts):
        name = _person_name(rng)
        account = None if rng.random() < 0.05 else rng.randrange(len(accounts))
        domains = accounts[account].domains if account is not None else (PERSONAL_DOMAIN,)
        emails = [unique_address(_local(name), domains[0])]
        extra = rng.random()
        if extra < 0.15:  # a second address: the account's other domain, or a personal one
            other = domains[1] if len(domains) > 1 else PERSONAL_DOMAIN
            emails.append(unique_address(_local(name).replace(".", ""), other))
        if extra < 0.04:  # and a third
            emails.append(unique_address(f"{_local(name).split('.')[0]}", domains[0]))
        owner = accounts[account].owner if account is not None else rng.choice(owners)
        contacts.append(DemoContact(i, name, rng.choice(TITLES), account, tuple(emails), owner))

    # Role mailboxes (sales@, info@) shared by two contacts of the same account.
    members: dict[int, list[int]] = {}
    for contact in contacts:
        if contact.account is not None:
            members.setdefault(contact.account, []).append(contact.index)
    crowded = sorted(account for account, people in members.items() if len(people) > 1)
    for _ in range(max(2, sizes.contacts // 50)):
        account = rng.choice(crowded)
        first, second = rng.sample(members[account], 2)
        address = unique_address(rng.choice(ROLE_MAILBOXES), accounts[account].domains[0])
        for index in (first, second):
            contacts[index] = _with_email(contacts[index], address)

    leads: list[DemoLead] = []
    lead_companies = _company_names(rng, max(10, sizes.leads // 3), taken)
    on_contact_address = sizes.leads // 10  # a lead on an address a contact also has
    for i in range(sizes.leads):
        owner = rng.choice(owners)
        status = rng.choice(LEAD_STATUSES)
        converted = rng.random() < 0.08
        if i < on_contact_address:
            contact = contacts[rng.randrange(len(contacts))]
            company = accounts[contact.account].name if contact.account is not None else ""
            leads.append(
                DemoLead(i, contact.name, contact.emails[0], company, status, converted, owner)
            )
            continue
        name = _person_name(rng)
        company, base = rng.choice(lead_companies)
        email = unique_address(_local(name), f"{base}.test")
        leads.append(DemoLead(i, name, email, company, status, converted, owner))

    opportunities: list[DemoOpportunity] = []
    for i in range(sizes.opportunities):
        account = rng.randrange(len(accounts))
        is_closed = rng.random() < 0.35
        stage = rng.choice(CLOSED_STAGES if is_closed else OPEN_STAGES)
        days = -rng.randrange(1, 365) if is_closed else rng.randrange(7, 200)
        opportunities.append(
            DemoOpportunity(
                index=i,
                name=f"{accounts[account].name} - {rng.choice(PRODUCTS)}",
                account=account,
                owner=rng.choice(owners),
                stage=stage,
                is_closed=is_closed,
                amount=float(rng.randrange(2, 400) * 500),
                close_date=ANCHOR_DATE + timedelta(days=days),
            )
        )
    return DemoCRM(tuple(accounts), tuple(contacts), tuple(leads), tuple(opportunities))


def _with_email(contact: DemoContact, address: str) -> DemoContact:
    return DemoContact(
        contact.index,
        contact.name,
        contact.title,
        contact.account,
        (*contact.emails, address),
        contact.owner,
    )
