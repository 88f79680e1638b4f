"""Where an email that is not saved stands: screened out (and why), waiting for the background
sync (and when), or not saved because nothing would save it (auto-save of all email off, no
person matched), with where to change that. Pure: the pane's suggestions pass in what they
already know, so this costs no query.

The answer is the background sync's own decision for the same item: the one verdict of
server/rules/autosave.py, which the sync's pipeline (server/sync/planning.py) calls too and
whose code it records as the skip reason: the history window, thread rules (only
while auto-save is not off), auto-save "all" with a matched person, and the opportunity rule
(no opportunity and no account: not saved)."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from ..rules import autosave, matching
from ..rules.explain import reason_text
from ..rules.linking import LinkOutcome
from ..rules.policy import Policy
from ..rules.screening import Decision

MY_SETTINGS = "my_settings"


def _screened(decision: Decision) -> dict[str, Any]:
    text = reason_text(decision.reason, decision.detail)
    return {
        "kind": "screened",
        "code": decision.reason,
        "message": text.replace("skipped: ", "Not saved: ", 1),
        "hint": "Background sync never saves it. You can still save it by hand.",
    }


def where_it_stands(
    decision: Decision,
    matches: dict[str, matching.AddressMatch],
    saved_status: str | None,
    policy: Policy,
    thread_auto_save: bool,
    *,
    outcome: LinkOutcome | None = None,
    received_at: datetime | None = None,
    creates_people: bool = False,
    now: datetime | None = None,
) -> dict[str, Any] | None:
    """None when the email is saved or being saved (the saved banner says so); otherwise
    {"kind": "screened" | "not_saved" | "will_save", "code", "message", "hint"?, "where"?}.
    "will_save" only when the sync's own decision (rules/autosave.py) saves it."""
    if saved_status in ("saved", "pending"):
        return None
    if saved_status == "removed":  # server/pane/removal.py
        return {
            "kind": "not_saved",
            "code": "removed_from_crm",
            "message": "You removed this email from the CRM: nothing saves it again.",
            "hint": "Save it below if you want it in the CRM after all.",
        }
    if not decision.keep:
        return _screened(decision)
    verdict = autosave.sync_verdict(
        auto_save=policy.auto_save,
        thread_rule=thread_auto_save,
        # a picked person (a domain-only account match is no person: picking.Pick.people)
        matched=any(m.picked is not None for m in matches.values()),
        outcome=outcome,
        received_at=received_at,
        history_days=policy.history_days,
        now=now or datetime.now(UTC),
        creates_people=creates_people,
        link_to_opportunities=policy.link_to_opportunities,
    )
    every = f"every {policy.sync_interval_minutes} min"
    if verdict.code == autosave.SAVE_THREAD:
        return _will(verdict.code, f"Will be saved by thread auto-save at the next sync ({every}).")
    if verdict.code == autosave.SAVE_ALL:
        return _will(verdict.code, f"Will be saved by the background sync ({every}).")
    if verdict.code == autosave.OLDER_THAN_WINDOW:
        return _not(
            verdict.code,
            f"Not saved: older than the {policy.history_days}-day history window the "
            "background sync reads.",
            "Save it below by hand.",
            where=MY_SETTINGS,
        )
    if verdict.code == autosave.THREAD_BUT_OFF:
        return _not(
            verdict.code,
            "Not saved: auto-save is off, so thread auto-save saves nothing either.",
            "Save it below, or turn auto-save on in My settings.",
            where=MY_SETTINGS,
        )
    if verdict.code == autosave.NO_PERSON:
        return _not(
            verdict.code,
            "Not saved: no one in this email is in the CRM.",
            "Create a contact or lead, or link a record below, then save.",
        )
    if verdict.code == autosave.NO_ACCOUNT:
        return _not(
            verdict.code,
            "Not saved: no opportunity or account to save it to (the people matched are "
            "leads or have no account).",
            "Tick the records below and save, or link an account.",
        )
    threads = verdict.code == autosave.MODE_THREADS
    return _not(
        verdict.code,
        "Not saved: auto-save of all email is off"
        + (" (only threads you switch on are saved)." if threads else "."),
        "Save it below, or turn on auto-save of all email in My settings.",
        where=MY_SETTINGS,
    )


def _will(code: str, message: str) -> dict[str, Any]:
    return {"kind": "will_save", "code": code, "message": message}


def _not(code: str, message: str, hint: str, where: str = "") -> dict[str, Any]:
    out = {"kind": "not_saved", "code": code, "message": message, "hint": hint}
    if where:
        out["where"] = where
    return out
