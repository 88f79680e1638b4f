"""Would the background sync save this email, and why (not)? The one implementation of that
rule: the sync's pipeline (server/sync/planning.py) calls `sync_verdict` for every email that
passed screening and records its code as the skip reason, and the pane's standing
(server/pane/standing.py) calls it for the email open, so "will be saved" is the sync's own
answer, not a guess:

1. an email received before the history window is never read by the sync (its first read
   goes back `history_days`; later reads see only new mail) — so nothing saves it;
2. a thread switched on for auto-save saves it to the thread's records — when auto-save is
   not "off" (the pipeline reads thread rules only under "threads" or "all");
3. under "all": no matched person (and none the sync would create) — not saved; the
   opportunity rule finding no opportunity and no account — not saved; otherwise saved;
4. otherwise ("threads" without a rule, "off") — not saved.
Screening comes first and is the caller's (a screened-out email is never saved).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

from ..mail.base import Message
from . import linking, matching
from .policy import EXTERNAL, Policy
from .screening import Decision

SAVE_THREAD = "thread_auto_save"
SAVE_ALL = "auto_save_all"
OLDER_THAN_WINDOW = "older_than_window"
THREAD_BUT_OFF = "thread_auto_save_off"
NO_PERSON = "no_person_matched"
NO_ACCOUNT = "no_account"
MODE_THREADS = "auto_save_threads"
MODE_OFF = "auto_save_off"


@dataclass(frozen=True)
class Verdict:
    saves: bool
    code: str


def before_window(received_at: datetime | None, since: datetime | None) -> bool:
    """Received before the history window starts (`since`). The sync's Graph reader applies it
    to the folders it reads whole (server/mail/graph.py, counted as OLDER_THAN_WINDOW), the
    verdict to everything else: one rule, one code."""
    return since is not None and received_at is not None and received_at < since


def sync_verdict(
    *,
    auto_save: str,
    thread_rule: bool,
    matched: bool,
    outcome: linking.LinkOutcome | None,
    received_at: datetime | None,
    history_days: int,
    now: datetime,
    creates_people: bool = False,
    link_to_opportunities: bool = True,
) -> Verdict:
    """`matched`: a CRM person picked for a linkable participant; `outcome`: the opportunity
    rule over those people; `creates_people`: auto-create would make a lead for a recipient
    (outbound mail only, see `to_create`) — a lead has no account, so with no one matched the
    opportunity rule then saves only with opportunity linking off. The caller creates the
    people only once this says the email is saved."""
    if before_window(received_at, now - timedelta(days=history_days)):
        return Verdict(False, OLDER_THAN_WINDOW)
    if thread_rule:
        if auto_save in ("threads", "all"):
            return Verdict(True, SAVE_THREAD)
        return Verdict(False, THREAD_BUT_OFF)
    if auto_save != "all":
        return Verdict(False, MODE_OFF if auto_save == "off" else MODE_THREADS)
    if not matched:
        if creates_people:
            if not link_to_opportunities:
                return Verdict(True, SAVE_ALL)
            return Verdict(False, NO_ACCOUNT)
        return Verdict(False, NO_PERSON)
    if outcome is not None and not outcome.save:
        return Verdict(False, NO_ACCOUNT)
    return Verdict(True, SAVE_ALL)


def to_create(
    message: Message,
    decision: Decision,
    matches: dict[str, matching.AddressMatch],
    policy: Policy,
) -> list[str]:
    """Auto-create (PRODUCT §2): the outside recipients of mail the user wrote (never of
    inbound mail alone: that is how peers create leads from spam) who are not in the CRM at
    all. Empty when auto-create is off or the user did not write it."""
    sender = message.from_
    if not policy.auto_create or sender is None or sender.address not in policy.own_addresses:
        return []
    out: list[str] = []
    for person in [*message.to, *message.cc]:
        found = matches.get(person.address)
        if (
            person.valid
            and person.address not in out
            and decision.participants.get(person.address) == EXTERNAL
            and found is not None
            and not found.candidates
            and found.no_match_reason == matching.NO_MATCH_NOT_IN_CRM
        ):
            out.append(person.address)
    return out
