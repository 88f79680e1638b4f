"""The CRM look-ups behind the default pick (rules/picking.py), in one batch for many
addresses: the pane calls it for one email, the sync for a whole page, so both decide from
the same answers with the same pure function."""

from __future__ import annotations

from collections.abc import Callable, Mapping

from .crm.base import CRM, RecordRef
from .rules import matching, picking
from .rules.policy import Policy

Remembered = Callable[[list[str]], Mapping[str, RecordRef]]


def gather(
    crm: CRM,
    addresses: list[str],
    *,
    policy: Policy,
    owner_id: str | None,
    remembered: Remembered | None = None,
    opportunities: bool = True,
) -> picking.Lookups:
    """People by address (one call), the user's remembered picks where they matter, accounts
    by domain when "match by domain" is on (one call), and — when `opportunities` — the
    opportunities of every candidate account (one call)."""
    lookups = picking.Lookups()
    if not addresses:
        return lookups
    lookups.found = crm.find_people(addresses)
    wanted = picking.remembered_wanted(addresses, lookups.found, policy)
    if wanted and remembered is not None:
        lookups.remembered = remembered(wanted)
    if policy.match_by_domain:
        first = picking.match(addresses, lookups, policy=policy, owner_id=owner_id)
        domains = matching.domains_to_look_up(first)
        if domains:
            lookups.accounts_by_domain = crm.accounts_by_domains(domains)
    if opportunities:
        lookups.matches = picking.match(addresses, lookups, policy=policy, owner_id=owner_id)
        account_ids = picking.opportunity_accounts(lookups.matches)
        if account_ids:
            lookups.opportunities = crm.opportunities_of(account_ids)
    return lookups
