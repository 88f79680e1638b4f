"""One page of mail or calendar: screen → match (one batched CRM lookup) → decide → save in
batches through the CRM → ledger. The caller commits, together with the page's delta link.
Deciding is planning.py (the one verdict of rules/autosave), writing is saving.py, meetings
are meetings.py."""

from __future__ import annotations

from sqlalchemy.orm import Session

from .. import activity_writer
from ..crm.base import CRM
from ..mail.base import Message
from ..models.ledger import LedgerEntry
from ..models.tenancy import User
from ..rules.policy import Policy
from ..rules.screening import Decision, screen
from . import decide, ledger_io
from .meetings import MeetingSteps
from .page import PageResult, Planned
from .planning import PlanningSteps
from .saving import SavingSteps

__all__ = ["PageResult", "Pipeline"]


class Pipeline(PlanningSteps, SavingSteps, MeetingSteps):
    def __init__(
        self,
        db: Session,
        user: User,
        crm: CRM,
        policy: Policy,
        remembered=None,
        writer: activity_writer.Writer | None = None,
    ):
        self.db = db
        # Whose claims this pipeline's ledger rows carry (the session's lease), see
        # activity_writer; None: a lease nobody renews (tests that drive a page directly).
        self.writer = writer
        self.user = user
        self.crm = crm
        self.policy = policy
        self.target = ledger_io.crm_target(crm)
        self.owner_id = crm.owner_id_for(user)
        self._remembered = remembered

    # --- mail --------------------------------------------------------------------------

    def process_messages(self, messages: list[Message], folder_id: str) -> PageResult:
        result = PageResult(read=len(messages))
        kept: list[tuple[Message, Decision, str]] = []
        for message in messages:
            parent = message.extra.get("parent_folder_id")
            if parent and folder_id and parent != folder_id:
                result.counts["unknown_folder"] += 1
                continue
            decision = screen(message, self.policy)
            if not decision.keep:
                result.counts[decision.reason] += 1
                continue
            kept.append((message, decision, decide.key_of_message(message)))
        if not kept:
            return result
        # An item saved from another user's mailbox is planned again for this user: their
        # matched people are added to the same CRM activity (one ledger row per item).
        known = ledger_io.entries(self.db, self.user.org_id, self.target, [k for *_, k in kept])
        shared: dict[str, LedgerEntry] = {}
        fresh = []
        seen: set[str] = set()
        for message, decision, key in kept:
            entry = known.get(key)
            saved = entry is not None and entry.status == "saved"
            if entry is not None and entry.status == "removed":
                # The user removed it from the CRM (pane/removal.py): only they save it again.
                result.counts["removed_from_crm"] += 1
                continue
            if key in seen or (saved and entry.user_id == self.user.id):
                result.counts["already_saved"] += 1
                continue
            seen.add(key)  # a replay of the same item later in the page
            if saved:
                shared[key] = entry
            fresh.append((message, decision, key))
        if not fresh:
            return result
        # Read whatever the mode: under "off" a thread rule saves nothing, and the verdict says
        # so ("thread_auto_save_off", as the pane does) rather than "auto_save_off".
        rules = ledger_io.thread_rules(
            self.db, self.user.id, [m.conversation_id for m, *_ in fresh]
        )
        wants_opportunities = self.policy.auto_save == "all" and self.policy.link_to_opportunities
        lookups = self._lookups([d for _, d, _ in fresh], opportunities=wants_opportunities)
        planned: list[Planned] = []
        for message, decision, key in fresh:
            plan = self._plan_message(message, decision, key, lookups, rules, result)
            if plan is None:
                continue
            if key in shared and not decide.has_new_links(plan.draft.links, shared[key].links):
                result.counts["already_saved"] += 1
                continue
            planned.append(plan)
        self._save(planned, "email", result, shared)
        return result
