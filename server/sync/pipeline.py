"""One page of mail or calendar: screen → match (one batched CRM lookup) → decide → save in
batches through the CRM → ledger. The caller commits, together with the page's delta link.
"""

from __future__ import annotations

import logging

from sqlalchemy.orm import Session

from .. import activity_writer
from ..crm.base import (
    CRM,
    CRMNotFound,
    CRMValidationError,
    LeadDraft,
    Link,
)
from ..mail.base import Event, Message
from ..models.ledger import LedgerEntry
from ..models.tenancy import User
from ..picks import gather
from ..rules import picking
from ..rules.policy import EXTERNAL, Policy
from ..rules.screening import Decision, screen
from . import decide, ledger_io
from .meetings import MeetingSteps
from .page import PageResult, Planned

log = logging.getLogger(__name__)
SAVE_BATCH = 200


class Pipeline(MeetingSteps):
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
        rules = {}
        if self.policy.auto_save in ("threads", "all"):
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
            if key in shared and not _new_links(plan.draft.links, shared[key].links):
                result.counts["already_saved"] += 1
                continue
            planned.append(plan)
        self._save(planned, "email", result, shared)
        return result

    def _lookups(self, decisions: list[Decision], opportunities: bool) -> picking.Lookups:
        """Every linkable address of the page, looked up in ONE batch (rules/picking decides
        from it per item, as the pane does for one email)."""
        addresses = sorted({a for d in decisions for a in d.linkable_addresses})
        remembered = None
        if self._remembered is not None:

            def remembered(wanted: list[str]):
                return self._remembered(self.user, wanted)

        return gather(
            self.crm,
            addresses,
            policy=self.policy,
            owner_id=self.owner_id,
            remembered=remembered,
            opportunities=opportunities,
        )

    def _pick(self, decision: Decision, lookups: picking.Lookups, **kw) -> picking.Pick:
        return picking.pick(
            decision.linkable_addresses, lookups, policy=self.policy, owner_id=self.owner_id, **kw
        )

    def _plan_message(
        self, message, decision, key, lookups: picking.Lookups, rules, result: PageResult
    ) -> Planned | None:
        own = self.policy.own_addresses
        roles = decide.roles_of(message)
        direction = decide.direction_of(message, own, decision.participants)
        rule_links = rules.get(message.conversation_id)
        if rule_links is not None:
            links, source = decide.links_from_dicts(rule_links), "thread"
        elif self.policy.auto_save == "all":
            chosen = self._pick(decision, lookups)
            creating = self.policy.auto_create and direction == "outbound"
            if creating and self._create_people(message, decision, chosen, lookups, result):
                chosen = self._pick(decision, lookups)  # with the new leads
            if not chosen.saves:
                result.counts[chosen.skip_reason] += 1
                return None
            links = decide.person_links(chosen.people, roles) + [
                Link(r) for r in chosen.outcome.refs
            ]
            source = "auto"
        else:
            result.counts["not_auto_saved"] += 1
            return None
        draft = decide.message_draft(message, key, links, direction, self.owner_id)
        return Planned(message, key, draft, source, [p.address for p in message.participants])

    def _create_people(
        self, message, decision, chosen: picking.Pick, lookups: picking.Lookups, result
    ) -> int:
        """Auto-create: a lead for each external recipient of mail the user wrote (never from
        inbound mail alone) who is not in the CRM. The lead joins the page's look-ups, so this
        and every later item of the page pick it. Returns how many were created."""
        created = 0
        recipients = [p for p in [*message.to, *message.cc] if p.valid]
        for person in recipients:
            address = person.address
            found = chosen.matches.get(address)
            if address in chosen.people or decision.participants.get(address) != EXTERNAL:
                continue
            if found is None or found.candidates or found.no_match_reason != "not_in_crm":
                continue
            name = person.name or address.split("@")[0]
            lead = self.crm.create_lead(
                LeadDraft(
                    name=name, email=address, owner_id=self.owner_id, company=address.split("@")[1]
                )
            )
            lookups.found = {**lookups.found, address: [lead]}
            created += 1
            result.created += 1
        return created

    # --- saving ------------------------------------------------------------------------

    def _save(
        self, planned: list[Planned], kind: str, result: PageResult, known: dict | None = None
    ) -> None:
        for start in range(0, len(planned), SAVE_BATCH):
            self._save_batch(planned[start : start + SAVE_BATCH], kind, result, known or {})

    def _save_batch(
        self, batch: list[Planned], kind: str, result: PageResult, known: dict[str, LedgerEntry]
    ) -> None:
        """The activity writer's protocol, for emails and meetings alike: claim the new items'
        ledger rows (committed), write what this session claimed — and, by key, what is saved
        already (another user's email gains this user's links; a meeting its changes or its
        cancellation) — then mark the claimed rows saved. An item someone else is writing
        gets our links through its row (the tick writes them once that writer is done)."""
        by_key = {p.key for p in batch if p.key in known and known[p.key].status == "saved"}
        fresh = [p for p in batch if p.key not in by_key]
        rows = [
            activity_writer.pending_row(
                org_id=self.user.org_id,
                user_id=self.user.id,
                target=self.target,
                source=plan.source,
                draft=plan.draft,
                conversation_id=getattr(plan.item, "conversation_id", ""),
                participants=plan.participants,
            )
            for plan in fresh
        ]
        # claim commits: no transaction stays open across the CRM call below
        claimed = activity_writer.claim(self.db, rows, self.writer)
        for plan in fresh:
            if plan.key not in claimed:
                activity_writer.join(self.db, self.user.org_id, self.target, plan.draft)
                result.counts["claimed_by_another_writer"] += 1
        # The joins lock rows another writer will mark: commit them before our CRM call, or two
        # sessions each holding a row the other marks after its call would deadlock.
        self.db.commit()
        writing = [p for p in batch if p.key in by_key or p.key in claimed]
        for plan, logged in self._log(writing, kind, result):
            if kind == "meeting":
                self._snapshot(plan)
            if plan.key in claimed:
                activity_writer.mark_saved(
                    self.db,
                    self.user.org_id,
                    self.target,
                    plan.key,
                    str(logged.id),
                    logged.links or plan.draft.links,
                )
                result.saved += 1
            elif kind == "email":
                # Saved before from another mailbox: log_emails added this user's missing
                # links to that activity; the one ledger row now lists them all.
                entry = known[plan.key]
                entry.links = _merged(
                    entry.links, decide.links_as_dicts(logged.links or plan.draft.links)
                )
                result.counts["links_added"] += 1
            else:
                entry = known[plan.key]  # the meeting, updated in the CRM by its key
                entry.links = decide.links_as_dicts(logged.links or plan.draft.links)
                entry.subject = plan.draft.subject[:255]
                entry.item_at = plan.draft.start
                result.saved += 1

    def _snapshot(self, plan: Planned) -> None:
        """What was written of a meeting, so an unchanged event read again costs nothing."""
        fingerprint = (
            decide.event_fingerprint(plan.item)
            if isinstance(plan.item, Event)
            else decide.draft_fingerprint(plan.draft)
        )
        ledger_io.put_snapshot(self.db, self.user.org_id, self.target, plan.key, fingerprint)

    def _log(self, batch: list[Planned], kind: str, result: PageResult):
        write = self.crm.log_emails if kind == "email" else self.crm.log_meetings
        try:
            return list(zip(batch, write([p.draft for p in batch]), strict=True))
        except (CRMValidationError, CRMNotFound):
            if len(batch) == 1:
                result.errors += 1
                result.counts["crm_refused"] += 1
                log.warning("CRM refused %s %s", kind, batch[0].key[:80])
                return []
        # One bad item must not sink its batch: retry one by one to find it.
        out = []
        for plan in batch:
            out.extend(self._log([plan], kind, result))
        return out


def _link_keys(links) -> set[tuple[str, str]]:
    out = set()
    for link in links or []:
        if isinstance(link, Link):
            out.add((link.ref.type, str(link.ref.id)))
        elif isinstance(link, dict):
            out.add((str(link.get("type")), str(link.get("id"))))
    return out


def _new_links(wanted: list[Link], have: list[dict]) -> bool:
    """Whether `wanted` links a record that `have` (the ledger's links) does not."""
    return not _link_keys(wanted) <= _link_keys(have)


def _merged(have: list[dict], more: list[dict]) -> list[dict]:
    out = list(have or [])
    present = _link_keys(out)
    for link in more:
        if (str(link.get("type")), str(link.get("id"))) not in present:
            present.add((str(link.get("type")), str(link.get("id"))))
            out.append(link)
    return out
