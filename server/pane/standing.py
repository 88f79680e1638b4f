"""Where an email that is not saved stands: screened out (and why), waiting for the background
sync (and when), or not saved because nothing would save it (auto-save of all email off, no
person matched), with where to change that. Pure: the pane's suggestions pass in what they
already know, so this costs no query.

The answer mirrors what the background sync does with the same item (server/sync/pipeline.py
_plan_message): a thread rule saves it; otherwise only auto-save "all" saves a matched email."""

from __future__ import annotations

from typing import Any

from ..rules import matching
from ..rules.explain import reason_text
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
) -> dict[str, Any] | None:
    """None when the email is saved or being saved (the saved banner says so); otherwise
    {"kind": "screened" | "not_saved" | "will_save", "code", "message", "hint"?, "where"?}."""
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
    matched = any(m.pick is not None for m in matches.values())
    if thread_auto_save:
        return {
            "kind": "will_save",
            "code": "thread_auto_save",
            "message": "Will be saved by thread auto-save at the next sync "
            f"(every {policy.sync_interval_minutes} min).",
        }
    if policy.auto_save == "all":
        if matched:
            return {
                "kind": "will_save",
                "code": "auto_save_all",
                "message": "Will be saved by the background sync "
                f"(every {policy.sync_interval_minutes} min).",
            }
        return {
            "kind": "not_saved",
            "code": "no_person_matched",
            "message": "Not saved: no one in this email is in the CRM.",
            "hint": "Create a contact or lead, or link a record below, then save.",
        }
    mode = "off" if policy.auto_save == "off" else "threads"
    return {
        "kind": "not_saved",
        "code": f"auto_save_{mode}",
        "message": "Not saved: auto-save of all email is off"
        + (" (only threads you switch on are saved)." if mode == "threads" else "."),
        "hint": "Save it below, or turn on auto-save of all email in My settings.",
        "where": MY_SETTINGS,
    }
