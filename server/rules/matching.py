"""Participant matching (PRODUCT §1): every CRM candidate of each external person, with the
reasons, and the default pick.

Default pick, in order: the user's remembered choice for the address, then a record the user
owns, then the most recent activity, then contacts before leads (then the lowest id, so the
answer is stable). Own addresses and colleagues are never matched as customers.
"""

from __future__ import annotations

from collections.abc import Collection, Iterable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime

from ..crm.base import Account, Person, RecordRef
from ..mail.base import Participant
from .domains import in_domains, registrable_domain
from .policy import Policy

# Why a record was picked.
PICK_REMEMBERED = "remembered"
PICK_ONLY_MATCH = "only_match"
PICK_OWNED = "owned_by_you"
PICK_RECENT = "most_recent_activity"
PICK_CONTACT = "contact_before_lead"
PICK_FIRST = "first_of_equals"
PICK_DOMAIN = "account_by_domain"
# Why nothing was picked.
NO_MATCH_OWN = "own_address"
NO_MATCH_COLLEAGUE = "colleague"
NO_MATCH_INVALID = "invalid_address"
NO_MATCH_NOT_IN_CRM = "not_in_crm"
NO_MATCH_NOT_OWNED = "not_owned"
NO_MATCH_DOMAIN_AMBIGUOUS = "domain_ambiguous"

_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)


@dataclass(frozen=True)
class Candidate:
    person: Person
    owned: bool
    remembered: bool = False

    @property
    def ref(self) -> RecordRef:
        return self.person.ref

    @property
    def reasons(self) -> list[str]:
        out = [PICK_REMEMBERED] if self.remembered else []
        out.append(PICK_OWNED if self.owned else "owned_by_someone_else")
        out.append(self.person.ref.type)
        return out


@dataclass
class AddressMatch:
    address: str
    candidates: list[Candidate] = field(default_factory=list)  # best first
    pick: RecordRef | None = None
    pick_reason: str = ""
    account: Account | None = None  # the account found by domain ("match by domain")
    no_match_reason: str = ""

    @property
    def matched(self) -> bool:
        return self.pick is not None

    @property
    def picked(self) -> Candidate | None:
        return next((c for c in self.candidates if c.ref == self.pick), None)


def _aware(value: datetime | None) -> datetime:
    if value is None:
        return _EPOCH
    return value if value.tzinfo is not None else value.replace(tzinfo=UTC)


def _rank_key(candidate: Candidate) -> tuple:
    person = candidate.person
    return (
        not candidate.owned,
        -_aware(person.last_activity_at).timestamp(),
        person.ref.type != "contact",
        person.ref.id,
    )


def _pick_reason(best: Candidate, runner_up: Candidate | None) -> str:
    if runner_up is None:
        return PICK_ONLY_MATCH
    if best.owned != runner_up.owned:
        return PICK_OWNED
    if _aware(best.person.last_activity_at) != _aware(runner_up.person.last_activity_at):
        return PICK_RECENT
    if best.person.ref.type != runner_up.person.ref.type:
        return PICK_CONTACT
    return PICK_FIRST


def _by_domain(
    address: str,
    accounts_by_domain: Mapping[str, list[Account]],
    owner_id: str | None,
    policy: Policy,
) -> tuple[Account | None, str]:
    domain = address.rpartition("@")[2]
    if not domain or in_domains(domain, policy.personal_domains):
        return None, NO_MATCH_NOT_IN_CRM
    found: dict[RecordRef, Account] = {}
    for key in dict.fromkeys((domain, registrable_domain(domain))):
        for account in accounts_by_domain.get(key, ()):
            found[account.ref] = account
    if policy.only_my_records:
        found = {r: a for r, a in found.items() if owner_id and a.owner_id == owner_id}
    if len(found) == 1:
        return next(iter(found.values())), PICK_DOMAIN
    return None, NO_MATCH_DOMAIN_AMBIGUOUS if found else NO_MATCH_NOT_IN_CRM


def match_one(
    address: str,
    people: list[Person],
    *,
    policy: Policy,
    owner_id: str | None = None,
    remembered: RecordRef | None = None,
    colleagues: Collection[str] = (),
    accounts_by_domain: Mapping[str, list[Account]] | None = None,
) -> AddressMatch:
    if address in policy.own_addresses:
        return AddressMatch(address, no_match_reason=NO_MATCH_OWN)
    if (
        address in colleagues
        or address in policy.colleague_addresses
        or policy.is_internal_domain(address.rpartition("@")[2])
    ):
        # Colleagues are never customers, even when someone made them a CRM contact.
        return AddressMatch(address, no_match_reason=NO_MATCH_COLLEAGUE)
    if "@" not in address:
        return AddressMatch(address, no_match_reason=NO_MATCH_INVALID)
    unique = {p.ref: p for p in people}.values()
    candidates = sorted(
        (
            Candidate(
                p,
                owned=bool(owner_id) and p.owner_id == owner_id,
                remembered=remembered is not None and p.ref == remembered,
            )
            for p in unique
        ),
        key=_rank_key,
    )
    result = AddressMatch(address, candidates)
    chosen = next((c for c in candidates if c.remembered), None)
    if chosen is not None:
        # The user's own explicit choice wins, even under "only my records".
        result.pick, result.pick_reason = chosen.ref, PICK_REMEMBERED
        return result
    eligible = [c for c in candidates if c.owned] if policy.only_my_records else candidates
    if eligible:
        result.pick = eligible[0].ref
        result.pick_reason = _pick_reason(eligible[0], eligible[1] if len(eligible) > 1 else None)
        return result
    if candidates:
        result.no_match_reason = NO_MATCH_NOT_OWNED
        return result
    if policy.match_by_domain and accounts_by_domain:
        account, reason = _by_domain(address, accounts_by_domain, owner_id, policy)
        if account is not None:
            result.account, result.pick, result.pick_reason = account, account.ref, reason
            return result
        result.no_match_reason = reason
        return result
    result.no_match_reason = NO_MATCH_NOT_IN_CRM
    return result


def match(
    people: Iterable[Participant | str],
    candidates: Mapping[str, list[Person]],
    *,
    policy: Policy,
    owner_id: str | None = None,
    remembered: Mapping[str, RecordRef] | None = None,
    colleagues: Collection[str] = (),
    accounts_by_domain: Mapping[str, list[Account]] | None = None,
) -> dict[str, AddressMatch]:
    """Per address (lower-cased), the candidates from `CRM.find_people` ranked with reasons
    and the default pick, or why there is none."""
    remembered = remembered or {}
    colleague_set = {c.lower() for c in colleagues}
    out: dict[str, AddressMatch] = {}
    for person in people:
        address = (person.address if isinstance(person, Participant) else str(person)).lower()
        if address in out:
            continue
        out[address] = match_one(
            address,
            candidates.get(address, []),
            policy=policy,
            owner_id=owner_id,
            remembered=remembered.get(address),
            colleagues=colleague_set,
            accounts_by_domain=accounts_by_domain,
        )
    return out


def domains_to_look_up(matches: Mapping[str, AddressMatch]) -> list[str]:
    """Registrable domains of people not in the CRM, for `CRM.accounts_by_domains` (the
    caller asks only when "match by domain" is on)."""
    wanted = {
        registrable_domain(a.rpartition("@")[2])
        for a, m in matches.items()
        if not m.candidates and m.no_match_reason == NO_MATCH_NOT_IN_CRM
    }
    return sorted(d for d in wanted if d)
