"""What the sync does with one email that passed screening: its people picked from the page's
look-ups (rules/picking, as the pane does), then the one decision of whether it is saved and
why not (rules/autosave.sync_verdict, the same call the pane's standing makes), then its draft.
A skipped email is counted under the verdict's code, the code the pane shows for it."""

from __future__ import annotations

from datetime import UTC, datetime

from ..crm.base import LeadDraft, Link
from ..mail.base import Message
from ..picks import gather
from ..rules import autosave, picking
from ..rules.screening import Decision
from . import decide
from .page import PageResult, Planned


class PlanningSteps:
    """Mixed into Pipeline (which provides user, crm, policy, owner_id and _remembered)."""

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
        self,
        message: Message,
        decision: Decision,
        key: str,
        lookups: picking.Lookups,
        rules: dict[str, list],
        result: PageResult,
    ) -> Planned | None:
        policy = self.policy
        rule_links = rules.get(message.conversation_id)
        # The people only matter where no thread rule names the records (auto-save "all").
        chosen = self._pick(decision, lookups) if rule_links is None else None
        creating = (
            autosave.to_create(message, decision, chosen.matches, policy)
            if chosen is not None and policy.auto_save == "all"
            else []
        )
        verdict = autosave.sync_verdict(
            auto_save=policy.auto_save,
            thread_rule=rule_links is not None,
            matched=bool(chosen and chosen.people),
            outcome=chosen.outcome if chosen is not None else None,
            received_at=message.received_at or message.sent_at,
            history_days=policy.history_days,
            now=datetime.now(UTC),
            creates_people=bool(creating),
            link_to_opportunities=policy.link_to_opportunities,
        )
        if not verdict.saves:
            result.counts[verdict.code] += 1
            return None
        roles = decide.roles_of(message)
        if verdict.code == autosave.SAVE_THREAD:
            links, source = decide.links_from_dicts(rule_links), "thread"
        else:
            if creating:
                self._create_people(message, creating, lookups, result)
                chosen = self._pick(decision, lookups)  # with the new leads
            links = decide.person_links(chosen.people, roles) + [
                Link(r) for r in chosen.outcome.refs
            ]
            source = "auto"
        direction = decide.direction_of(message, policy.own_addresses, decision.participants)
        draft = decide.message_draft(message, key, links, direction, self.owner_id)
        return Planned(message, key, draft, source, [p.address for p in message.participants])

    def _create_people(
        self, message: Message, addresses: list[str], lookups: picking.Lookups, result
    ) -> None:
        """Auto-create a lead for each of `addresses` (autosave.to_create). The lead joins the
        page's look-ups, so this and every later item of the page pick it."""
        names = {p.address: p.name for p in [*message.to, *message.cc]}
        for address in addresses:
            lead = self.crm.create_lead(
                LeadDraft(
                    name=names.get(address) or address.split("@")[0],
                    email=address,
                    owner_id=self.owner_id,
                    company=address.split("@")[1],
                )
            )
            lookups.found = {**lookups.found, address: [lead]}
            result.created += 1
