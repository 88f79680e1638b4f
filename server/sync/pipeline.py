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
    Person,
)
from ..mail.base import Event, Message
from ..models.ledger import LedgerEntry
from ..models.tenancy import User
from ..rules import linking, matching
from ..rules.policy import EXTERNAL, Policy
from ..rules.screening import Decision, screen
from . import decide, ledger_io
from .meetings import MeetingSteps
from .page import PageResult, Planned

log = logging.getLogger(__name__)
SAVE_BATCH = 200


class Pipeline(MeetingSteps):
    def __init__(self, db: Session, user: User, crm: CRM, policy: Policy, remembered=None):
        self.db = db
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
        people = self._people([d for _, d, _ in fresh])
        opportunities = self._opportunities(people)
        planned: list[Planned] = []
        for message, decision, key in fresh:
            plan = self._plan_message(message, decision, key, people, opportunities, rules, result)
            if plan is None:
                continue
            if key in shared and not _new_links(plan.draft.links, shared[key].links):
                result.counts["already_saved"] += 1
                continue
            planned.append(plan)
        self._save(planned, "email", result, shared)
        return result

    def _people(self, decisions: list[Decision]) -> dict[str, matching.AddressMatch]:
        """Every linkable address of the page, matched with ONE batched CRM lookup."""
        addresses = sorted({a for d in decisions for a in d.linkable_addresses})
        if not addresses:
            return {}
        candidates = self.crm.find_people(addresses)
        remembered = self._remembered(self.user, addresses) if self._remembered else {}
        return matching.match(
            addresses, candidates, policy=self.policy, owner_id=self.owner_id, remembered=remembered
        )

    def _opportunities(self, matches: dict[str, matching.AddressMatch]) -> list:
        if self.policy.auto_save != "all" or not self.policy.link_to_opportunities:
            return []
        account_ids = sorted(
            {
                m.picked.person.account_id
                for m in matches.values()
                if m.picked is not None and m.picked.person.account_id
            }
        )
        return self.crm.opportunities_of(account_ids, self.owner_id) if account_ids else []

    def _picked(self, decision: Decision, matches) -> dict[str, Person]:
        out: dict[str, Person] = {}
        for address in decision.linkable_addresses:
            found = matches.get(address)
            if found is not None and found.picked is not None:
                out[address] = found.picked.person
        return out

    def _plan_message(
        self, message, decision, key, matches, opportunities, rules, result: PageResult
    ) -> Planned | None:
        own = self.policy.own_addresses
        roles = decide.roles_of(message)
        direction = decide.direction_of(message, own, decision.participants)
        rule_links = rules.get(message.conversation_id)
        if rule_links is not None:
            links, source = decide.links_from_dicts(rule_links), "thread"
        elif self.policy.auto_save == "all":
            picked = self._picked(decision, matches)
            if self.policy.auto_create and direction == "outbound":
                picked.update(self._create_people(message, decision, matches, picked, result))
            if not picked:
                result.counts["no_crm_match"] += 1
                return None
            outcome = linking.choose_opportunity(
                list(picked.values()),
                opportunities,
                owner_id=self.owner_id,
                link_to_opportunities=self.policy.link_to_opportunities,
            )
            if not outcome.save:
                result.counts[f"not_saved_{outcome.reason}"] += 1
                return None
            links = decide.person_links(picked, roles) + [Link(r) for r in outcome.refs]
            source = "auto"
        else:
            result.counts["not_auto_saved"] += 1
            return None
        draft = decide.message_draft(message, key, links, direction, self.owner_id)
        return Planned(message, key, draft, source, [p.address for p in message.participants])

    def _create_people(self, message, decision, matches, picked, result) -> dict[str, Person]:
        """Auto-create: a lead for each external recipient of mail the user wrote (never from
        inbound mail alone) who is not in the CRM."""
        created: dict[str, Person] = {}
        recipients = [p for p in [*message.to, *message.cc] if p.valid]
        for person in recipients:
            address = person.address
            found = matches.get(address)
            if address in picked or decision.participants.get(address) != EXTERNAL:
                continue
            if found is None or found.candidates or found.no_match_reason != "not_in_crm":
                continue
            name = person.name or address.split("@")[0]
            lead = self.crm.create_lead(
                LeadDraft(
                    name=name, email=address, owner_id=self.owner_id, company=address.split("@")[1]
                )
            )
            created[address] = lead
            found.pick = lead.ref
            found.candidates.append(matching.Candidate(lead, owned=True))
            result.created += 1
        return created

    # --- saving ------------------------------------------------------------------------

    def _save(
        self, planned: list[Planned], kind: str, result: PageResult, known: dict | None = None
    ) -> None:
        if kind == "email":
            for start in range(0, len(planned), SAVE_BATCH):
                self._save_emails(planned[start : start + SAVE_BATCH], result, known or {})
            return
        for start in range(0, len(planned), SAVE_BATCH):
            batch = planned[start : start + SAVE_BATCH]
            rows = []
            for plan, logged in self._log(batch, kind, result):
                row = self._record(plan, logged, kind, known or {})
                if row is not None:
                    rows.append(row)
                if kind == "email" and row is None:
                    result.counts["links_added"] += 1
                else:
                    result.saved += 1
            ledger_io.insert_entries(self.db, rows)

    def _save_emails(self, batch: list[Planned], result: PageResult, known: dict) -> None:
        """The activity writer's protocol: claim the new items' ledger rows (committed), write
        only what this session claimed — or what another user saved before, to add this
        user's links — then mark the claimed rows saved. An item someone else claimed
        meanwhile gets our links through its row (the tick writes them)."""
        fresh = [p for p in batch if p.key not in known]
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
        claimed = activity_writer.claim(self.db, rows)  # commits: no transaction over the CRM
        lost = [p for p in fresh if p.key not in claimed]
        for plan in lost:
            activity_writer.join(self.db, self.user.org_id, self.target, plan.draft)
            result.counts["claimed_by_another_writer"] += 1
        writing = [p for p in batch if p.key in known or p.key in claimed]
        for plan, logged in self._log(writing, "email", result):
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
            else:
                self._record(plan, logged, "email", known)
                result.counts["links_added"] += 1

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

    def _record(self, plan: Planned, logged, kind: str, known: dict) -> dict | None:
        """The ledger row to insert, or None when an existing meeting row was updated."""
        item = plan.item
        links = decide.links_as_dicts(logged.links or plan.draft.links)
        if kind == "email" and plan.key in known:
            # Saved before from another mailbox: log_emails added this user's missing links
            # to that activity; the one ledger row now lists them all.
            entry = known[plan.key]
            entry.links = _merged(entry.links, links)
            return None
        if kind == "meeting":
            entry = known.get(plan.key)
            fingerprint = (
                decide.event_fingerprint(item)
                if isinstance(item, Event)
                else decide.draft_fingerprint(plan.draft)
            )
            ledger_io.put_snapshot(self.db, self.user.org_id, self.target, plan.key, fingerprint)
            if entry is not None:
                entry.links = links
                entry.subject = plan.draft.subject
                entry.item_at = plan.draft.start
                entry.status = "saved"
                return None
        return ledger_io.ledger_row(
            org_id=self.user.org_id,
            user_id=self.user.id,
            key=plan.key,
            kind=kind,
            target=self.target,
            source=plan.source,
            activity_id=str(logged.id),
            conversation_id=getattr(item, "conversation_id", ""),
            subject=plan.draft.subject,
            participants=plan.participants,
            links=links,
            item_at=plan.draft.start,
        )


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
