"""The opportunity rule of PRODUCT §2 (auto-save): which opportunity or account an email goes
to, with the reason.

The opportunity must be open, owned by the user, and belong to an account that has a contact
among the email's participants; of several, the most recently active. The email also goes to
the account of every picked person (the same rule for each). No opportunity: the email goes
to those accounts. No account either: it is not saved.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import UTC, datetime

from ..crm.base import Account, Opportunity, Person, RecordRef

OPPORTUNITY = "opportunity"
ACCOUNT = "account"
PEOPLE_ONLY = "people_only"
NOT_SAVED = "not_saved"

WHY_OWNED_OPEN = "owned_open_opportunity"
WHY_MOST_RECENT = "most_recently_active"
WHY_LINKING_OFF = "linking_off"
WHY_NO_OPPORTUNITY = "no_opportunity"
WHY_NOT_YOURS = "opportunity_not_yours"
WHY_CLOSED = "opportunity_closed"
WHY_NO_ACCOUNT = "no_account"

_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)


@dataclass(frozen=True)
class AccountRef:
    id: str
    name: str = ""

    @property
    def ref(self) -> RecordRef:
        return RecordRef("account", self.id)


@dataclass(frozen=True)
class LinkOutcome:
    save: bool
    outcome: str  # opportunity | account | people_only | not_saved
    reason: str
    opportunity: Opportunity | None = None
    accounts: tuple[AccountRef, ...] = ()
    # Opportunities that were considered and set aside (closed or someone else's), for "why".
    passed_over: tuple[Opportunity, ...] = ()

    @property
    def refs(self) -> list[RecordRef]:
        """Records to link besides the people: the opportunity and/or the accounts."""
        out = [a.ref for a in self.accounts]
        if self.opportunity is not None:
            out.insert(0, self.opportunity.ref)
        return out


def _when(value: datetime | None) -> datetime:
    if value is None:
        return _EPOCH
    return value if value.tzinfo is not None else value.replace(tzinfo=UTC)


def _accounts(people: Iterable[Person], extra: Iterable[Account]) -> tuple[AccountRef, ...]:
    found: dict[str, AccountRef] = {}
    for person in people:
        if person.ref.type == "contact" and person.account_id:
            found.setdefault(person.account_id, AccountRef(person.account_id, person.account_name))
    for account in extra:
        found.setdefault(account.ref.id, AccountRef(account.ref.id, account.name))
    return tuple(found.values())


def choose_opportunity(
    people: Iterable[Person],
    opportunities: Iterable[Opportunity],
    *,
    owner_id: str | None,
    link_to_opportunities: bool = True,
    domain_accounts: Iterable[Account] = (),
) -> LinkOutcome:
    """`people`: the CRM people picked for the email's From/To/Cc; `opportunities`: those of
    their accounts (CRM.opportunities_of); `domain_accounts`: accounts found by domain."""
    people = list(people)
    contact_accounts = {p.account_id for p in people if p.ref.type == "contact" and p.account_id}
    accounts = _accounts(people, domain_accounts)
    if not link_to_opportunities:
        # Without the opportunity rule an email goes to its people (and their accounts).
        outcome = ACCOUNT if accounts else PEOPLE_ONLY
        return LinkOutcome(bool(people), outcome, WHY_LINKING_OFF, accounts=accounts)
    related = [o for o in opportunities if o.account_id in contact_accounts]
    mine = [o for o in related if owner_id and o.owner_id == owner_id]
    eligible = [o for o in mine if not o.is_closed]
    if eligible:
        eligible.sort(key=lambda o: (-_when(o.last_activity_at).timestamp(), o.ref.id))
        reason = WHY_OWNED_OPEN if len(eligible) == 1 else WHY_MOST_RECENT
        # Every picked person's account, not only the opportunity's: one rule for each
        # person (a sender at one company and a cc'd colleague of another both count).
        return LinkOutcome(True, OPPORTUNITY, reason, eligible[0], accounts)
    if mine:
        return _to_accounts(accounts, WHY_CLOSED, tuple(mine))
    if related:
        return _to_accounts(accounts, WHY_NOT_YOURS, tuple(related))
    return _to_accounts(accounts, WHY_NO_OPPORTUNITY)


def _to_accounts(
    accounts: tuple[AccountRef, ...], reason: str, passed_over: tuple[Opportunity, ...] = ()
) -> LinkOutcome:
    if not accounts:
        return LinkOutcome(False, NOT_SAVED, WHY_NO_ACCOUNT, passed_over=passed_over)
    return LinkOutcome(True, ACCOUNT, reason, accounts=accounts, passed_over=passed_over)


def rank_opportunities(
    opportunities: Iterable[Opportunity], owner_id: str | None = None
) -> list[Opportunity]:
    """For the pane: open ones first, then yours, then the most recently active."""
    return sorted(
        opportunities,
        key=lambda o: (
            o.is_closed,
            not (owner_id and o.owner_id == owner_id),
            -_when(o.last_activity_at).timestamp(),
            o.name.casefold(),
            o.ref.id,
        ),
    )
