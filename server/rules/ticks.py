"""Why each account and opportunity the pane lists is ticked by default, or not (issue 12):
the pane ticks exactly what the sync would link (linking.choose_opportunity over the picked
people of `matching.match`), and says why for every row, so an account left unticked is
never a silent surprise. Pure."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass

from ..crm.base import Opportunity
from . import linking, matching

# Accounts
ACCOUNT_OF_PICKED = "account_of_picked"  # ticked: the account of a person picked in the email
ACCOUNT_BY_DOMAIN = "account_by_domain"  # ticked: found by the participant's domain
ACCOUNT_OF_OTHER = "account_of_other_candidate"  # not: its person is not the default pick
ACCOUNT_NO_PICK = "account_no_pick"  # not: its person's address has no default pick
# Opportunities
OPP_CHOSEN = "chosen"
OPP_LINKING_OFF = "linking_off"
OPP_CLOSED = "closed"
OPP_NOT_YOURS = "not_yours"
OPP_OTHER_ACCOUNT = "account_not_in_email"
OPP_LESS_RECENT = "less_recently_active"
OPP_NOT_CHOSEN = "not_chosen"


@dataclass(frozen=True)
class Tick:
    default: bool
    reason: str
    text: str


def account_ticks(
    matches: Mapping[str, matching.AddressMatch], outcome: linking.LinkOutcome | None
) -> dict[str, Tick]:
    """Per account id seen among the candidates (and domain matches): ticked or not, why."""
    chosen = {a.id for a in outcome.accounts} if outcome is not None and outcome.save else set()
    out: dict[str, Tick] = {}
    for address, found in matches.items():
        if found.account is not None and found.pick == found.account.ref:
            out[found.account.ref.id] = _tick(
                found.account.ref.id in chosen,
                ACCOUNT_BY_DOMAIN,
                f"Account with the domain of {address}",
            )
        for candidate in found.candidates:
            person = candidate.person
            if person.ref.type != "contact" or not person.account_id:
                continue
            if candidate.ref == found.pick:
                tick = _tick(
                    person.account_id in chosen,
                    ACCOUNT_OF_PICKED,
                    f"Account of {person.name or address}",
                )
            elif found.pick is None:
                tick = Tick(False, ACCOUNT_NO_PICK, f"{address} has no default record")
            else:
                tick = Tick(
                    False,
                    ACCOUNT_OF_OTHER,
                    f"Account of {person.name or address}, not the default pick for {address}",
                )
            # A ticked reason wins over an unticked one for the same account.
            before = out.get(person.account_id)
            if before is None or (tick.default and not before.default):
                out[person.account_id] = tick
    return out


def _tick(chosen: bool, reason: str, text: str) -> Tick:
    if chosen:
        return Tick(True, reason, text)
    return Tick(False, "not_saved", f"{text}; nothing would be linked to it")


def opportunity_ticks(
    opportunities: Iterable[Opportunity],
    outcome: linking.LinkOutcome | None,
    owner_id: str | None,
    picked_accounts: Iterable[str],
    link_to_opportunities: bool,
) -> dict[str, Tick]:
    """Per opportunity id: ticked (the one the opportunity rule chose) or why not."""
    chosen = outcome.opportunity.ref.id if outcome and outcome.opportunity else None
    accounts = set(picked_accounts)
    out: dict[str, Tick] = {}
    for opp in opportunities:
        if opp.ref.id == chosen:
            text = (
                "Your open opportunity, the most recently active"
                if outcome.reason == linking.WHY_MOST_RECENT
                else "Your open opportunity with this account"
            )
            out[opp.ref.id] = Tick(True, OPP_CHOSEN, text)
        elif not link_to_opportunities:
            out[opp.ref.id] = Tick(False, OPP_LINKING_OFF, "Linking to opportunities is off")
        elif opp.is_closed:
            out[opp.ref.id] = Tick(False, OPP_CLOSED, "Closed")
        elif not (owner_id and opp.owner_id == owner_id):
            out[opp.ref.id] = Tick(False, OPP_NOT_YOURS, "Owned by someone else")
        elif opp.account_id not in accounts:
            out[opp.ref.id] = Tick(
                False, OPP_OTHER_ACCOUNT, "Its account is not that of a person in this email"
            )
        elif chosen is not None:
            out[opp.ref.id] = Tick(
                False, OPP_LESS_RECENT, "Another of your opportunities is more recently active"
            )
        else:
            out[opp.ref.id] = Tick(False, OPP_NOT_CHOSEN, "Not chosen by the opportunity rule")
    return out
