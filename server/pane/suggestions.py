"""Suggestions for the email open in the pane: every participant with their CRM records (or
why not), the accounts and opportunities, the saved state, thread auto-save and "why not
saved". Screening, matching and the opportunity rule are the same pure functions the
background sync uses (server/rules), so the pane and the sync never disagree."""

from __future__ import annotations

from typing import Any

from sqlalchemy import select

from ..crm import crm_for
from ..crm.base import CRM, Account, CRMError, Opportunity, Person, RecordRef
from ..db import get_session
from ..models.ledger import LedgerEntry, ThreadRule
from ..models.tenancy import User
from ..policy import effective_policy, remembered_choices
from ..rules import matching
from ..rules.explain import reason_text
from ..rules.linking import choose_opportunity, rank_opportunities
from ..rules.policy import (
    BLOCKED,
    EXCLUDED,
    EXTERNAL,
    IGNORED,
    INTERNAL,
    INVALID,
    PERSONAL,
    ROLE,
    TOOL,
    Policy,
)
from ..rules.screening import screen
from ..sync.ledger_io import crm_target
from .items import PaneItem
from .records import crm_error, guess_company, guess_name, record_json
from .status import status_line

MAX_OPPORTUNITIES = 10
PICK_TEXTS = {
    matching.PICK_REMEMBERED: "Your earlier choice",
    matching.PICK_ONLY_MATCH: "Only match",
    matching.PICK_OWNED: "Owned by you",
    matching.PICK_RECENT: "Most recent activity",
    matching.PICK_CONTACT: "Contact before lead",
    matching.PICK_FIRST: "First of equal matches",
    matching.PICK_DOMAIN: "Account with this domain",
}
CLASS_TEXTS = {
    INTERNAL: "Works at your organisation.",
    IGNORED: "Treated as internal by your organisation's settings.",
    BLOCKED: "On a do-not-sync list: never linked.",
    EXCLUDED: "On the exclusion list: emails with this address are never saved.",
    ROLE: "A shared role address: not linked to a person.",
    TOOL: "A tool or notification address: not linked.",
    INVALID: "Not a valid email address.",
    PERSONAL: "A personal address.",
}
NO_MATCH_TEXTS = {
    matching.NO_MATCH_NOT_IN_CRM: "Not in the CRM yet.",
    matching.NO_MATCH_NOT_OWNED: "Only matches records owned by others.",
    matching.NO_MATCH_DOMAIN_AMBIGUOUS: "Not in the CRM; several accounts use this domain.",
}


def _pane_class(rule_class: str, found: matching.AddressMatch | None) -> str:
    if rule_class in (EXTERNAL, PERSONAL) and found is not None and found.candidates:
        return "matched"
    if rule_class in (EXTERNAL, PERSONAL) and found is not None and found.account is not None:
        return "matched"
    return {
        EXTERNAL: "not_in_crm",
        PERSONAL: "personal",
        INTERNAL: "internal",
        IGNORED: "internal",
        BLOCKED: "blocked",
        EXCLUDED: "blocked",
        ROLE: "role",
        TOOL: "tool",
        INVALID: "invalid",
    }.get(rule_class, "not_in_crm")


def _candidate_json(found: matching.AddressMatch, candidate: matching.Candidate) -> dict:
    person: Person = candidate.person
    default = found.pick == person.ref
    return {
        **record_json(person.ref, person),
        "owned": candidate.owned,
        "default": default,
        "reason": found.pick_reason if default else "",
        "reason_text": PICK_TEXTS.get(found.pick_reason, "") if default else "",
    }


def _participant_json(
    person, role: str, rule_class: str, found: matching.AddressMatch | None
) -> dict[str, Any]:
    pane_class = _pane_class(rule_class, found)
    out: dict[str, Any] = {
        "address": person.address,
        "name": person.name,
        "role": role,
        "domain": person.domain,
        "class": pane_class,
        "rule_class": rule_class,
        "candidates": [],
        "reason_text": "",
    }
    if found is not None and found.candidates:
        out["candidates"] = [_candidate_json(found, c) for c in found.candidates]
    elif found is not None and found.account is not None:
        account = found.account
        out["candidates"] = [
            {
                **record_json(account.ref, account),
                "default": True,
                "reason": found.pick_reason,
                "reason_text": PICK_TEXTS.get(found.pick_reason, ""),
            }
        ]
    if pane_class == "matched" and found is not None and found.pick is None:
        out["reason_text"] = NO_MATCH_TEXTS.get(found.no_match_reason, "")
    elif pane_class != "matched":
        out["reason_text"] = (
            NO_MATCH_TEXTS.get(found.no_match_reason, "")
            if found is not None and pane_class == "not_in_crm"
            else CLASS_TEXTS.get(rule_class, "")
        )
    if pane_class in ("not_in_crm", "personal"):
        out["prefill"] = {
            "name": guess_name(person.address, person.name),
            "email": person.address,
            "company": guess_company(person.address),
        }
    return out


def _people_of(item: PaneItem, policy: Policy) -> list[tuple[Any, str]]:
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


def _saved_json(entry: LedgerEntry | None, crm: CRM) -> dict[str, Any]:
    if entry is None:
        return {"status": None, "links": []}
    refs = [RecordRef(link["type"], str(link["id"])) for link in entry.links or []]
    refs = list(dict.fromkeys(refs))
    records = crm.get_records(refs) if refs else {}
    return {
        "status": entry.status,
        "source": entry.source,
        "activity_id": entry.activity_id,
        "saved_at": entry.updated_at.isoformat() if entry.updated_at else None,
        "error": entry.last_error if entry.status != "saved" else "",
        "links": [
            {"type": r.type, "id": r.id, "name": records[r].name if r in records else ""}
            for r in refs
        ],
    }


def ledger_entry(user: User, crm: CRM, key: str) -> LedgerEntry | None:
    return get_session().scalar(
        select(LedgerEntry).where(
            LedgerEntry.org_id == user.org_id,
            LedgerEntry.item_key == key,
            LedgerEntry.crm_target == crm_target(crm),
        )
    )


def thread_rule(user: User, conversation_id: str) -> ThreadRule | None:
    if not conversation_id:
        return None
    return get_session().scalar(
        select(ThreadRule).where(
            ThreadRule.user_id == user.id, ThreadRule.conversation_id == conversation_id
        )
    )


def _why(decision, matches: dict[str, matching.AddressMatch], entry) -> dict | None:
    if entry is not None and entry.status == "saved":
        return None
    if not decision.keep:
        return {
            "code": decision.reason,
            "message": reason_text(decision.reason, decision.detail).replace(
                "skipped: ", "Background sync skips it: "
            ),
        }
    if not any(m.pick is not None for m in matches.values()):
        return {"code": "no_person_matched", "message": "No CRM person matched."}
    return None


def suggestions(user: User, item: PaneItem) -> dict[str, Any]:
    policy = effective_policy(user)
    decision = screen(item.message, policy)
    people = _people_of(item, policy)
    lookup = [
        p.address for p, _ in people if decision.participants.get(p.address) in (EXTERNAL, PERSONAL)
    ]
    crm = crm_for(user)
    try:
        owner_id = crm.owner_id_for(user)
        found = crm.find_people(lookup) if lookup else {}
        # A remembered pick only matters where there is a choice (or where "only my
        # records" would otherwise refuse the one match), so most emails skip the query.
        minimum = 1 if policy.only_my_records else 2
        ambiguous = [a for a in lookup if len({p.ref for p in found.get(a, [])}) >= minimum]
        chosen = remembered_choices(user, ambiguous) if ambiguous else {}
        matches = matching.match(lookup, found, policy=policy, owner_id=owner_id, remembered=chosen)
        wanted_domains = matching.domains_to_look_up(matches) if policy.match_by_domain else []
        if wanted_domains:
            by_domain = crm.accounts_by_domains(wanted_domains)
            matches = matching.match(
                lookup,
                found,
                policy=policy,
                owner_id=owner_id,
                remembered=chosen,
                accounts_by_domain=by_domain,
            )
        picked = [m.picked.person for m in matches.values() if m.picked is not None]
        domain_accounts = [m.account for m in matches.values() if m.account is not None]
        accounts, opportunities, outcome = _accounts_and_opportunities(
            crm, matches, picked, domain_accounts, owner_id, policy
        )
        entry = ledger_entry(user, crm, item.key)
        saved = _saved_json(entry, crm)
    except CRMError as exc:
        get_session().rollback()
        raise crm_error(exc) from None
    defaults = set(outcome.refs) if outcome is not None else set()
    rule = thread_rule(user, item.conversation_id)
    return {
        "item": {"key": item.key, "subject": item.subject, "conversation_id": item.conversation_id},
        "participants": [
            _participant_json(
                p, role, decision.participants.get(p.address, INVALID), matches.get(p.address)
            )
            for p, role in people
        ],
        "accounts": [{**record_json(a.ref, a), "default": a.ref in defaults} for a in accounts],
        "opportunities": [
            {
                **record_json(o.ref, o),
                "default": o.ref in defaults,
                "account_name": _account_name(accounts, o.account_id),
            }
            for o in opportunities
        ],
        "saved": saved,
        "thread": {
            "conversation_id": item.conversation_id,
            "auto_save": bool(rule and rule.enabled),
            "links": list(rule.links or []) if rule else [],
        },
        "screening": {"keep": decision.keep, "reason": decision.reason},
        "why": _why(decision, matches, entry),
        "status": status_line(user, crm.name, True),
    }


def _account_name(accounts: list[Account], account_id: str) -> str:
    return next((a.name for a in accounts if a.ref.id == account_id), "")


def _accounts_and_opportunities(
    crm: CRM,
    matches,
    picked: list[Person],
    domain_accounts: list[Account],
    owner_id: str | None,
    policy: Policy,
):
    # The accounts come with the people (id and name), so no extra lookup is needed for them.
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
    for account in domain_accounts:
        known[account.ref.id] = account
    account_ids = list(known)
    if not account_ids:
        outcome = choose_opportunity(
            picked, [], owner_id=owner_id, link_to_opportunities=policy.link_to_opportunities
        )
        return [], [], outcome
    accounts = list(known.values())
    opportunities: list[Opportunity] = crm.opportunities_of(account_ids)
    outcome = choose_opportunity(
        picked,
        opportunities,
        owner_id=owner_id,
        link_to_opportunities=policy.link_to_opportunities,
        domain_accounts=domain_accounts,
    )
    ranked = rank_opportunities(opportunities, owner_id)[:MAX_OPPORTUNITIES]
    return accounts, ranked, outcome
