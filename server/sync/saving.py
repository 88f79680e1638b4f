"""Writing a page's planned emails and meetings through the activity writer (claim → write →
mark saved), in batches, one bad item never sinking its batch."""

from __future__ import annotations

import logging

from .. import activity_writer
from ..crm.base import CRMNotFound, CRMValidationError
from ..mail.base import Event
from ..models.ledger import LedgerEntry
from . import decide, ledger_io
from .page import PageResult, Planned

log = logging.getLogger(__name__)
SAVE_BATCH = 200


class SavingSteps:
    """Mixed into Pipeline (which provides db, user, crm, target and writer)."""

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
                entry.links = decide.merged_links(
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
