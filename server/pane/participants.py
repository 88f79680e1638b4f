"""One participant of the email as the pane shows it: their class (matched, internal,
blocked, not in CRM, ...), their candidate records with the reason for the default pick, the
text that explains why there is no match, and the prefill for creating one. Pure."""

from __future__ import annotations

from typing import Any

from ..crm.base import Person
from ..mail.base import Participant
from ..rules import matching
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
)
from .records import guess_company, guess_name, record_json

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


def participant_json(
    person: Participant, role: str, rule_class: str, found: matching.AddressMatch | None
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
