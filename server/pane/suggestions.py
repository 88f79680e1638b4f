"""Suggestions for the email open in the pane: every participant with their CRM records (or
why not), the accounts and opportunities, the saved state, thread auto-save and "why not
saved". Screening, matching and the opportunity rule are the same pure functions the
background sync uses (server/rules), so the pane and the sync never disagree."""

from __future__ import annotations

from typing import Any

from flask import current_app

from ..crm import crm_for
from ..crm.base import Account, CRMError, RecordRef
from ..db import get_session
from ..mail.base import Participant
from ..models.tenancy import User
from ..picks import gather
from ..policy import effective_policy, remembered_choices
from ..rules import autosave, ticks
from ..rules.linking import rank_opportunities
from ..rules.picking import pick
from ..rules.policy import EXTERNAL, INVALID, PERSONAL, Policy
from ..rules.screening import Decision, screen
from .items import PaneItem
from .participants import participant_json
from .records import crm_error, record_json
from .standing import where_it_stands
from .state import ledger_entry, saved_json, thread_json, thread_rule
from .status import crm_connection, status_line

MAX_OPPORTUNITIES = 10


def _people_of(item: PaneItem, policy: Policy) -> list[tuple[Participant, str]]:
    """(participant, role) for From, To, Cc without the user's own addresses or repeats."""
    seen: set[str] = set()
    out = []
    message = item.message
    for role, people in (("from", [message.from_]), ("to", message.to), ("cc", message.cc)):
        for person in people:
            if person is None or person.address in seen or person.address in policy.own_addresses:
                continue
            seen.add(person.address)
            out.append((person, role))
    return out


def suggestions(user: User, item: PaneItem) -> dict[str, Any]:
    policy = effective_policy(user)
    decision = screen(item.message, policy)
    people = _people_of(item, policy)
    lookup = [
        p.address for p, _ in people if decision.participants.get(p.address) in (EXTERNAL, PERSONAL)
    ]
    connection = crm_connection(user, current_app.config["CRM_ADAPTER"])
    if connection["connect_required"]:
        return _connect_first(user, item, decision, connection)
    crm = crm_for(user)
    try:
        owner_id = crm.owner_id_for(user)
        # The same look-ups and the same pure decision as the background sync (rules/picking).
        lookups = gather(
            crm,
            lookup,
            policy=policy,
            owner_id=owner_id,
            remembered=lambda wanted: remembered_choices(user, wanted),
        )
        # The matches gather made for these addresses: the same answer, not worked out twice.
        default = pick(lookup, lookups, policy=policy, owner_id=owner_id, matches=lookups.matches)
        matches, outcome = default.matches, default.outcome
        accounts = _accounts(matches)
        opportunities = rank_opportunities(lookups.opportunities, owner_id)[:MAX_OPPORTUNITIES]
        entry = ledger_entry(user, crm, item.key)
        saved = saved_json(entry, crm)
    except CRMError as exc:
        get_session().rollback()
        raise crm_error(exc) from None
    defaults = set(outcome.refs)
    why_accounts, why_opportunities = _tick_reasons(
        matches, outcome, opportunities, owner_id, policy
    )
    rule = thread_rule(user, item.conversation_id)
    return {
        "item": {"key": item.key, "subject": item.subject, "conversation_id": item.conversation_id},
        "participants": [
            participant_json(
                p, role, decision.participants.get(p.address, INVALID), matches.get(p.address)
            )
            for p, role in people
        ],
        "accounts": [
            {**record_json(a.ref, a), "default": a.ref in defaults, **why_accounts(a.ref.id)}
            for a in accounts
        ],
        "opportunities": [
            {
                **record_json(o.ref, o),
                "default": o.ref in defaults,
                "account_name": _account_name(accounts, o.account_id),
                **why_opportunities(o.ref.id),
            }
            for o in opportunities
        ],
        "saved": saved,
        "thread": thread_json(item.conversation_id, rule),
        "screening": {"keep": decision.keep, "reason": decision.reason},
        "why": where_it_stands(
            decision,
            matches,
            saved["status"],
            policy,
            bool(rule and rule.enabled),
            outcome=outcome,
            received_at=item.created_at or item.sent_at,
            creates_people=bool(autosave.to_create(item.message, decision, matches, policy)),
        ),
        "status": status_line(user, crm.name, True, connection),
    }


def _connect_first(
    user: User, item: PaneItem, decision: Decision, connection: dict[str, Any]
) -> dict[str, Any]:
    """The user's CRM login is missing or revoked: no lookups, the pane offers "Connect"."""
    return {
        "item": {"key": item.key, "subject": item.subject, "conversation_id": item.conversation_id},
        "participants": [],
        "accounts": [],
        "opportunities": [],
        "saved": {"status": None, "links": []},
        "thread": thread_json(item.conversation_id, thread_rule(user, item.conversation_id)),
        "screening": {"keep": decision.keep, "reason": decision.reason},
        "why": None,
        "status": status_line(user, current_app.config["CRM_ADAPTER"], False, connection),
    }


def _tick_reasons(matches, outcome, opportunities, owner_id, policy):
    """Lookups giving each account's and opportunity's {"reason", "reason_text"}: why the
    same rule for every person (server/rules/ticks.py) ticks it or not."""
    picked = [m.picked.person for m in matches.values() if m.picked is not None]
    accounts = ticks.account_ticks(matches, outcome)
    opps = ticks.opportunity_ticks(
        opportunities,
        outcome,
        owner_id,
        [p.account_id for p in picked if p.ref.type == "contact" and p.account_id],
        policy.link_to_opportunities,
    )

    def lookup(found):
        return lambda key: (
            {"reason": found[key].reason, "reason_text": found[key].text} if key in found else {}
        )

    return lookup(accounts), lookup(opps)


def _account_name(accounts: list[Account], account_id: str) -> str:
    return next((a.name for a in accounts if a.ref.id == account_id), "")


def _accounts(matches) -> list[Account]:
    """The accounts of the candidate contacts (they come with the people: no extra lookup)
    and those found by domain."""
    known: dict[str, Account] = {}
    for found in matches.values():
        for candidate in found.candidates:
            person = candidate.person
            if (
                person.ref.type == "contact"
                and person.account_id
                and person.account_id not in known
            ):
                ref = RecordRef("account", person.account_id)
                known[person.account_id] = Account(ref=ref, name=person.account_name, domains=[])
    for found in matches.values():
        if found.account is not None:
            known[found.account.ref.id] = found.account
    return list(known.values())
