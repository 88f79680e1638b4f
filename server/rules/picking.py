"""Match → default pick → opportunity, in one place: what an email's participants become in
the CRM by default. The pane shows it (its pre-ticked records) and the background sync saves
it, so the two can never disagree on the same email (PRODUCT §1–§2).

Pure: the CRM's answers come in as `Lookups` (gathered in one batch for a whole page by
server/picks.py), the decision goes out as a `Pick`.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field

from ..crm.base import Account, Opportunity, Person, RecordRef
from . import matching
from .linking import LinkOutcome, choose_opportunity
from .policy import Policy


@dataclass
class Lookups:
    """What the CRM and the user's remembered picks said about a set of addresses."""

    found: Mapping[str, list[Person]] = field(default_factory=dict)
    remembered: Mapping[str, RecordRef] = field(default_factory=dict)
    accounts_by_domain: Mapping[str, list[Account]] = field(default_factory=dict)
    opportunities: list[Opportunity] = field(default_factory=list)
    # The matches the opportunities' accounts were taken from (picks.gather sets them): what
    # `match` returns for the addresses gather was given, as long as nothing above changes.
    matches: dict[str, matching.AddressMatch] | None = None


@dataclass(frozen=True)
class Pick:
    matches: dict[str, matching.AddressMatch]
    people: dict[str, Person]  # address -> the picked person
    domain_accounts: list[Account]
    outcome: LinkOutcome

    @property
    def refs(self) -> list[RecordRef]:
        """Everything linked by default: the people, then the opportunity and/or accounts."""
        return [p.ref for p in self.people.values()] + list(self.outcome.refs)


def remembered_wanted(
    addresses: Iterable[str], found: Mapping[str, list[Person]], policy: Policy
) -> list[str]:
    """The addresses whose remembered pick can matter: where there is a choice, or where "only
    my records" would otherwise refuse the one match."""
    minimum = 1 if policy.only_my_records else 2
    return [a for a in addresses if len({p.ref for p in found.get(a, [])}) >= minimum]


def match(
    addresses: list[str], lookups: Lookups, *, policy: Policy, owner_id: str | None
) -> dict[str, matching.AddressMatch]:
    return matching.match(
        addresses,
        lookups.found,
        policy=policy,
        owner_id=owner_id,
        remembered=lookups.remembered,
        accounts_by_domain=lookups.accounts_by_domain if policy.match_by_domain else None,
    )


def opportunity_accounts(matches: Mapping[str, matching.AddressMatch]) -> list[str]:
    """Accounts whose opportunities the rule may pick from: those of the candidate contacts
    and those found by domain."""
    ids = {
        c.person.account_id
        for m in matches.values()
        for c in m.candidates
        if c.person.ref.type == "contact" and c.person.account_id
    }
    ids.update(m.account.ref.id for m in matches.values() if m.account is not None)
    return sorted(ids)


def pick(
    addresses: list[str],
    lookups: Lookups,
    *,
    policy: Policy,
    owner_id: str | None,
    link_to_opportunities: bool | None = None,
    matches: dict[str, matching.AddressMatch] | None = None,
) -> Pick:
    """The default records of an email (or meeting) whose linkable participants are
    `addresses`. `link_to_opportunities` overrides the policy's (meetings: False). `matches`:
    `match(addresses, lookups, ...)` when the caller has it already (`lookups.matches` straight
    after gathering them for the same addresses)."""
    if matches is None:
        matches = match(addresses, lookups, policy=policy, owner_id=owner_id)
    people = {a: m.picked.person for a, m in matches.items() if m.picked is not None}
    domain_accounts = [m.account for m in matches.values() if m.account is not None]
    linking = (
        policy.link_to_opportunities if link_to_opportunities is None else link_to_opportunities
    )
    outcome = choose_opportunity(
        list(people.values()),
        lookups.opportunities,
        owner_id=owner_id,
        link_to_opportunities=linking,
        domain_accounts=domain_accounts,
    )
    return Pick(matches, people, domain_accounts, outcome)
