"""Address and domain look-ups: batched SOQL in one Composite call, behind the per-org cache.

A page of mail mostly repeats the correspondents of earlier pages, so the cache answers most
addresses. When some miss, the same call also fetches every contact and lead of the missed
addresses' domains (up to PREFETCH_LIMIT rows): the colleagues who write next are then known,
and a domain fetched whole answers "no such person" without another call.
"""

from __future__ import annotations

from ..base import Account, Person, RecordRef, SearchHit
from .cache import LookupCache
from .client import SalesforceClient, soql_quote
from .records import (
    SalesforceOptions,
    account_from,
    chunks,
    in_list,
    normal_address,
    person_from,
)

LEAD_FIELDS = ("Id", "Name", "Email", "Company", "Status", "OwnerId")
PREFETCH_LIMIT = 1_000
PREFETCH_DOMAINS = 40
_SOSL_RESERVED = set("?&|!{}[]()^~*:\\\"'+-")


def contact_fields(options: SalesforceOptions) -> tuple[str, ...]:
    base = ("Id", "Name", "Title", "AccountId", "Account.Name", "OwnerId")
    return base + tuple(options.contact_email_fields)


def account_fields(options: SalesforceOptions) -> tuple[str, ...]:
    return ("Id", "Name", "OwnerId", *options.account_domain_fields)


def _domain(address: str) -> str:
    return address.rsplit("@", 1)[1]


def _statements(options: SalesforceOptions, missing: list[str], domains: list[str]) -> list[str]:
    contact_select = f"SELECT {', '.join(contact_fields(options))} FROM Contact"
    lead_select = f"SELECT {', '.join(LEAD_FIELDS)} FROM Lead WHERE IsConverted = false"
    out = []
    for part in chunks(missing):
        values = in_list(part)
        where = " OR ".join(f"{f} IN {values}" for f in options.contact_email_fields)
        out += [f"{contact_select} WHERE {where}", f"{lead_select} AND Email IN {values}"]
    if domains:
        likes = [soql_quote(f"%@{d}") for d in domains]
        contact_where = " OR ".join(
            f"{f} LIKE {v}" for v in likes for f in options.contact_email_fields
        )
        lead_where = " OR ".join(f"Email LIKE {v}" for v in likes)
        out += [
            f"{contact_select} WHERE {contact_where} LIMIT {PREFETCH_LIMIT}",
            f"{lead_select} AND ({lead_where}) LIMIT {PREFETCH_LIMIT}",
        ]
    return out


def find_people(
    client: SalesforceClient, options: SalesforceOptions, cache: LookupCache, emails: list[str]
) -> dict[str, list[Person]]:
    """People by address (lower-cased keys of the valid addresses that matched)."""
    wanted = list(dict.fromkeys(a for a in map(normal_address, emails or []) if a))
    found = cache.people(wanted)
    missing = [a for a in wanted if a not in found]
    complete = cache.complete_domains(sorted({_domain(a) for a in missing}))
    for address in [a for a in missing if _domain(a) in complete]:
        found[address] = []  # its whole domain is cached: nobody has this address
    missing = [a for a in missing if _domain(a) not in complete]
    if not missing:
        return {a: found[a] for a in wanted if found.get(a)}
    domains = sorted({_domain(a) for a in missing})[:PREFETCH_DOMAINS]
    statements = _statements(options, missing, domains)
    results = client.queries(statements)
    exact_rows = [row for rows in results[: len(statements) - 2] for row in rows]
    prefetch = results[len(statements) - 2 :]
    whole = all(len(rows) < PREFETCH_LIMIT for rows in prefetch)
    fresh: dict[str, list[Person]] = {a: [] for a in missing}
    rows_in = exact_rows + ([row for rows in prefetch for row in rows] if whole else [])
    fetched_whole = set(domains) if whole else set()
    for row in rows_in:
        person = person_from(row, options.contact_email_fields)
        for address in person.emails:
            # Another address is known completely only when its whole domain was fetched.
            if address not in fresh and _domain(address) not in fetched_whole:
                continue
            people = fresh.setdefault(address, [])
            if person.ref not in {p.ref for p in people}:
                people.append(person)
    for people in fresh.values():
        people.sort(key=lambda p: (p.ref.type != "contact", p.ref.id))
    cache.put_people({a: ps for a, ps in fresh.items() if a in missing or ps})
    if whole:
        cache.mark_complete_domains(domains)
    found.update({a: fresh[a] for a in missing})
    return {a: found[a] for a in wanted if found.get(a)}


def accounts_by_domains(
    client: SalesforceClient, options: SalesforceOptions, cache: LookupCache, domains: list[str]
) -> dict[str, list[Account]]:
    wanted = list(
        dict.fromkeys(d.strip().lower() for d in domains or [] if isinstance(d, str) and "." in d)
    )
    wanted = [d for d in wanted if all(ch.isalnum() or ch in ".-" for ch in d)]
    found = cache.accounts(wanted)
    missing = [d for d in wanted if d not in found]
    if not missing:
        return {d: found[d] for d in wanted if found.get(d)}
    fresh: dict[str, list[Account]] = {d: [] for d in missing}
    statements = []
    for part in chunks(missing, 50):
        likes = [
            f"{f} LIKE {soql_quote('%' + d + '%')}"
            for d in part
            for f in options.account_domain_fields
        ]
        statements.append(
            f"SELECT {', '.join(account_fields(options))} FROM Account WHERE {' OR '.join(likes)}"
        )
    for rows in client.queries(statements):
        for row in rows:
            account = account_from(row, options.account_domain_fields)
            for domain in account.domains:
                if domain in fresh and account.ref not in {a.ref for a in fresh[domain]}:
                    fresh[domain].append(account)
    cache.put_accounts(fresh)
    found.update(fresh)
    return {d: found[d] for d in wanted if found.get(d)}


def search(client: SalesforceClient, text: str, limit: int) -> list[SearchHit]:
    """Contacts, unconverted leads, accounts and opportunities by SOSL; the exact name first."""
    term = " ".join((text or "").split())
    if len(term) < 2:
        return []
    escaped = "".join("\\" + ch if ch in _SOSL_RESERVED else ch for ch in term)
    sosl = (
        f"FIND {{{escaped}}} IN ALL FIELDS RETURNING "
        "Contact(Id, Name, Email, Account.Name), "
        "Lead(Id, Name, Email, Company WHERE IsConverted = false), "
        "Account(Id, Name), Opportunity(Id, Name, Account.Name) LIMIT 200"
    )
    hits = [_hit(row) for row in client.search(sosl)]
    lowered = term.lower()
    hits.sort(key=lambda h: (h.name.lower() != lowered, not h.name.lower().startswith(lowered)))
    return hits[:limit]


def _hit(row: dict) -> SearchHit:
    sobject = row["attributes"]["type"]
    kind = {
        "Contact": "contact",
        "Lead": "lead",
        "Account": "account",
        "Opportunity": "opportunity",
    }[sobject]
    account = (row.get("Account") or {}).get("Name") or ""
    subtitle = {
        "contact": row.get("Email") or account,
        "lead": row.get("Company") or "",
        "opportunity": account,
    }
    return SearchHit(
        RecordRef(kind, row["Id"]), row.get("Name") or "", subtitle.get(kind, "") or ""
    )
