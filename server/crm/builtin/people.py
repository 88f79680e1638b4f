"""Contacts and leads by email address: the lookup behind every suggestion and save.

One statement per call (a UNION ALL over contact addresses and unconverted leads), built once
and executed with bound parameters; rows are read as tuples. bench/crm_lookup.py measures it.
"""

from __future__ import annotations

import re
from collections import defaultdict
from collections.abc import Iterable
from functools import cache

from sqlalchemy import String, bindparam, literal, null, select, union_all
from sqlalchemy.orm import Session, aliased

from ...mail.base import parse_participant
from ..base import Person, RecordRef
from .models import CrmAccount, CrmContact, CrmContactEmail, CrmLead

# Addresses per statement (each is bound twice): under SQLite's 32,766 parameters, so any
# realistic batch is one round trip.
LOOKUP_CHUNK = 15_000

# A plain ASCII address (the vast majority): checked by one regular expression instead of the
# full validator, which costs ~40 µs an address. It accepts a subset of what
# parse_participant accepts (tests/unit/test_crm_addresses.py checks this); the rest take the
# full path.
_ATEXT = r"[a-z0-9!#$%&'*+/=?^_`{|}~-]+"
_LABEL = r"[a-z0-9](?:[a-z0-9-]{0,61}[a-z0-9])?"
_PLAIN_ADDRESS = re.compile(rf"{_ATEXT}(?:\.{_ATEXT})*@(?:{_LABEL}\.)+[a-z]{{2,63}}")
_SPECIAL_TLDS = frozenset(("arpa", "invalid", "local", "localhost", "onion"))


def normalise_address(raw: object) -> str | None:
    """The lower-cased address, or None when it is malformed."""
    if isinstance(raw, str):
        text = raw.strip().lower()
        local, _, domain = text.partition("@")
        if (
            len(text) <= 254
            and len(local) <= 64
            and "--" not in domain
            and _PLAIN_ADDRESS.fullmatch(text)
            and domain.rsplit(".", 1)[-1] not in _SPECIAL_TLDS
        ):
            return text
    participant = parse_participant(raw)
    return participant.address if participant.valid else None


def valid_addresses(emails: Iterable[object]) -> list[str]:
    """Lower-cased, validated, de-duplicated addresses; malformed ones are dropped."""
    seen: dict[str, None] = {}
    for raw in emails:
        address = normalise_address(raw)
        if address is not None:
            seen.setdefault(address, None)
    return list(seen)


@cache
def _people_statement():
    """Contacts (with every address of theirs) and unconverted leads, in one UNION ALL.

    Built once with bind parameters, so each call skips statement construction and reuses
    the compiled form; `addresses` expands to the IN list at execution."""
    org_id = bindparam("org_id")
    addresses = bindparam("addresses", expanding=True)
    matched = aliased(CrmContactEmail)
    every = aliased(CrmContactEmail)
    contacts = (
        select(
            literal("contact").label("kind"),
            matched.email.label("matched"),
            CrmContact.id,
            CrmContact.name,
            CrmContact.title,
            CrmContact.account_id,
            CrmAccount.name.label("account_name"),
            literal("", String).label("company"),
            literal("", String).label("status"),
            CrmContact.owner_id,
            CrmContact.last_activity_at,
            every.email.label("email"),
        )
        .select_from(matched)
        .join(CrmContact, CrmContact.id == matched.contact_id)
        .join(every, every.contact_id == CrmContact.id)
        .outerjoin(CrmAccount, CrmAccount.id == CrmContact.account_id)
        .where(matched.org_id == org_id, matched.email.in_(addresses))
    )
    leads = select(
        literal("lead").label("kind"),
        CrmLead.email.label("matched"),
        CrmLead.id,
        CrmLead.name,
        literal("", String).label("title"),
        null().label("account_id"),
        literal("", String).label("account_name"),
        CrmLead.company,
        CrmLead.status,
        CrmLead.owner_id,
        CrmLead.last_activity_at,
        CrmLead.email,
    ).where(CrmLead.org_id == org_id, CrmLead.email.in_(addresses), CrmLead.converted.is_(False))
    return union_all(contacts, leads)


def find_people(session: Session, org_id: int, emails: list[str]) -> dict[str, list[Person]]:
    addresses = valid_addresses(emails)
    found: dict[str, list[Person]] = {}
    for start in range(0, len(addresses), LOOKUP_CHUNK):
        chunk = addresses[start : start + LOOKUP_CHUNK]
        params = {"org_id": org_id, "addresses": chunk}
        rows = session.execute(_people_statement(), params)
        people: dict[tuple[str, int], Person] = {}
        matches: dict[str, set[tuple[str, int]]] = defaultdict(set)
        # Positional unpacking: this loop is on the hot path of every lookup.
        for (
            kind,
            matched,
            rid,
            name,
            title,
            account_id,
            account_name,
            company,
            status,
            owner,
            at,
            email,
        ) in rows:
            key = (kind, rid)
            person = people.get(key)
            if person is None:
                person = people[key] = Person(
                    ref=RecordRef(kind, str(rid)),
                    name=name,
                    emails=[],
                    owner_id=owner,
                    title=title or "",
                    account_id=None if account_id is None else str(account_id),
                    account_name=account_name or "",
                    company=company or "",
                    status=status or "",
                    last_activity_at=at,
                    extra={} if kind == "contact" else {"converted": False},
                )
            if email not in person.emails:
                person.emails.append(email)
            matches[matched].add(key)
        for person in people.values():
            person.emails.sort()
        for address, keys in matches.items():
            # Contacts before leads, oldest record first: a stable order for callers.
            found[address] = [people[k] for k in sorted(keys)]
    return found
