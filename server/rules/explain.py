"""Decisions in words: one function turns a chain of rule results (screening decision,
matches, opportunity outcome) into short sentences for the pane and the admin console."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from . import linking, matching, screening
from .policy import BLOCKED, INVALID, ROLE, TOOL

_SKIPS = {
    screening.SKIP_FOLDER_NEVER_READ: "skipped: the folder {detail} is never read",
    screening.SKIP_FOLDER_NOT_SYNCED: (
        "skipped: the folder {detail} is not among the synced folders"
    ),
    screening.SKIP_DRAFT: "skipped: drafts are not saved",
    screening.SKIP_SUBJECT_KEYWORD: 'skipped: the subject contains "{detail}"',
    screening.SKIP_AUTOMATED_HEADER: "skipped: automated mail (it has a {detail} header)",
    screening.SKIP_AUTOMATED_SENDER: "skipped: automated mail from {detail}",
    screening.SKIP_EXCLUDED: "skipped: {detail} is on the exclusion list",
    screening.SKIP_INTERNAL_ONLY: "skipped: all participants are internal",
    screening.SKIP_PERSONAL_ONLY: "skipped: the only outside participants are personal addresses",
    screening.SKIP_ONLY_BLOCKED: "skipped: every outside participant is blocked",
    screening.SKIP_ROLE_OR_TOOL_ONLY: "skipped: no outside person, only role or tool addresses",
    screening.SKIP_NO_PARTICIPANTS: "skipped: no valid participant address",
    screening.SKIP_MEETINGS_OFF: "skipped: meetings are not synced",
    screening.SKIP_PRIVATE_EVENT: "skipped: {detail} events are never saved",
    screening.SKIP_APPOINTMENT: "skipped: appointments without attendees are not saved",
}
_KEEPS = {
    screening.KEEP_EXTERNAL: "relevant: {count} outside participant{plural}",
    screening.KEEP_INTERNAL_ALLOWED: "relevant: internal mail is synced by your policy",
    screening.KEEP_APPOINTMENT: "relevant: appointments are synced by your policy",
}
_NOT_LINKED = {
    ROLE: "not linked: {address} is a role address",
    TOOL: "not linked: {address} is a tool (room, recorder or notification sender)",
    BLOCKED: "not linked: {address} is blocked",
    INVALID: "not linked: {address} is not a valid address",
}
_PICKS = {
    matching.PICK_REMEMBERED: "your earlier choice",
    matching.PICK_ONLY_MATCH: "the only match",
    matching.PICK_OWNED: "owned by you",
    matching.PICK_RECENT: "most recent activity",
    matching.PICK_CONTACT: "a contact before a lead",
    matching.PICK_FIRST: "first of equal matches",
    matching.PICK_DOMAIN: "the only account with this domain",
}
_NO_MATCH = {
    matching.NO_MATCH_OWN: "not linked: {address} is your own address",
    matching.NO_MATCH_COLLEAGUE: "not linked: {address} is a colleague",
    matching.NO_MATCH_INVALID: "not linked: {address} is not a valid address",
    matching.NO_MATCH_NOT_IN_CRM: "not linked: {address} is not in the CRM",
    matching.NO_MATCH_NOT_OWNED: "not linked: {address} matches only records owned by others",
    matching.NO_MATCH_DOMAIN_AMBIGUOUS: (
        "not linked: {address} is not in the CRM and its domain belongs to several accounts"
    ),
}
_ACCOUNT_WHY = {
    linking.WHY_CLOSED: "because the opportunity owned by you is closed",
    linking.WHY_NOT_YOURS: "because its opportunities are owned by someone else",
    linking.WHY_NO_OPPORTUNITY: "because there is no opportunity for it",
    linking.WHY_LINKING_OFF: "(linking to opportunities is off)",
}


def _safe_format(template: str, **values: Any) -> str:
    return template.format(**{k: str(v) for k, v in values.items()})


def explain_decision(decision: screening.Decision) -> list[str]:
    if not decision.keep:
        template = _SKIPS.get(decision.reason, "skipped: " + decision.reason)
        return [_safe_format(template, detail=decision.detail or "this")]
    count = len(decision.linkable)
    out = [
        _safe_format(
            _KEEPS.get(decision.reason, "relevant: " + decision.reason),
            count=count,
            plural="" if count == 1 else "s",
        )
    ]
    for address, cls in decision.participants.items():
        if cls in _NOT_LINKED:
            out.append(_safe_format(_NOT_LINKED[cls], address=address))
    return out


def explain_match(found: matching.AddressMatch) -> str:
    if found.pick is None:
        template = _NO_MATCH.get(found.no_match_reason, "not linked: {address}")
        return _safe_format(template, address=found.address)
    picked = found.picked
    name = picked.person.name if picked else (found.account.name if found.account else "")
    label = name or f"{found.pick.type} {found.pick.id}"
    why = _PICKS.get(found.pick_reason, found.pick_reason)
    extra = len(found.candidates) - 1
    more = f"; {extra} other match{'es' if extra != 1 else ''}" if extra > 0 else ""
    return f"{found.address} → {label} ({why}{more})"


def _names(accounts: tuple[linking.AccountRef, ...]) -> str:
    return " and ".join(a.name or f"account {a.id}" for a in accounts)


def explain_link(outcome: linking.LinkOutcome) -> str:
    if outcome.outcome == linking.OPPORTUNITY and outcome.opportunity is not None:
        name = outcome.opportunity.name
        if outcome.reason == linking.WHY_MOST_RECENT:
            return (
                f'saved to the opportunity "{name}" because it is the most recently '
                "active of your open opportunities"
            )
        return f'saved to the opportunity "{name}" because it is owned by you and open'
    if outcome.outcome == linking.ACCOUNT:
        why = _ACCOUNT_WHY.get(outcome.reason, outcome.reason)
        if outcome.reason == linking.WHY_CLOSED and len(outcome.passed_over) > 1:
            why = "because the opportunities owned by you are closed"
        return f"saved to {_names(outcome.accounts)} {why}"
    if outcome.outcome == linking.PEOPLE_ONLY:
        return "saved to the people only (linking to opportunities is off)"
    return "not saved: no opportunity or account for the matched people"


def explain(*steps: Any) -> list[str]:
    """Sentences for a chain of results, in order. Accepts screening Decisions, AddressMatch
    objects or a {address: AddressMatch} mapping, and LinkOutcomes; None is skipped."""
    out: list[str] = []
    for step in steps:
        if step is None:
            continue
        if isinstance(step, screening.Decision):
            out.extend(explain_decision(step))
        elif isinstance(step, matching.AddressMatch):
            out.append(explain_match(step))
        elif isinstance(step, Mapping):
            out.extend(explain_match(m) for m in step.values())
        elif isinstance(step, linking.LinkOutcome):
            out.append(explain_link(step))
        else:
            raise TypeError(f"cannot explain {type(step).__name__}")
    return out


def reason_text(code: str, detail: str = "") -> str:
    """One screening reason code in words (for stored codes, e.g. session counts)."""
    template = _SKIPS.get(code) or _KEEPS.get(code) or code
    return _safe_format(template, detail=detail or "this", count="some", plural="s")
