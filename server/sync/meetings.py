"""The calendar's part of the pipeline: one CRM meeting per organisation by iCalUId (for an
occurrence of a recurring series: the series' iCalUId + its original start, see
rules.keys.occurrence_key), updated when it changes, marked cancelled when it is cancelled or
removed from the calendar. Each occurrence is its own meeting, so a moved, edited or cancelled
occurrence changes only its own. A new meeting is written through the activity writer's claim
(one organisation-wide meeting even when two attendees' sessions read it at once); a saved one
is updated by its key."""

from __future__ import annotations

from collections.abc import Callable

from ..crm.base import ActivityDraft, Link
from ..mail.base import Event
from ..rules.screening import Decision, screen
from . import decide, ledger_io
from .page import PageResult, Planned


class MeetingSteps:
    """Mixed into Pipeline (which provides db, user, crm, target, owner_id, _lookups, _pick
    and _save: meetings are picked and written as emails are, by the activity writer)."""

    def process_events(self, events: list[Event]) -> PageResult:
        result = PageResult(read=len(events))
        kept: list[tuple[Event, Decision, str]] = []
        for event in events:
            decision = screen(event, self.policy)
            if not decision.keep:
                result.counts[decision.reason] += 1
                continue
            kept.append((event, decision, decide.key_of_event(event)))
        if not kept:
            return result
        keys = [k for *_, k in kept]
        known = ledger_io.entries(self.db, self.user.org_id, self.target, keys)
        prints = ledger_io.snapshots(self.db, self.user.org_id, self.target, keys)
        lookups = self._lookups([d for _, d, _ in kept], opportunities=False)
        planned: list[Planned] = []
        linked: list[tuple[Event, str]] = []
        seen: set[str] = set()
        for event, decision, key in kept:
            if key in seen:
                result.counts["replayed"] += 1
                continue
            seen.add(key)
            entry = known.get(key)
            if entry is not None and entry.status == "removed":
                # A user removed it from the CRM (pane/meetings.py): neither its later updates
                # nor another attendee's copy bring it back, as for a removed email.
                result.counts["removed_from_crm"] += 1
                linked.append((event, key))  # still this user's: its state says "removed"
                continue
            # Meetings go to their people and accounts, never to an opportunity.
            chosen = self._pick(decision, lookups, link_to_opportunities=False)
            if not chosen.people:
                result.counts["no_crm_match"] += 1
                continue
            linked.append((event, key))
            roles = {a: "attendee" for a in chosen.people}
            links = decide.person_links(chosen.people, roles) + [
                Link(r) for r in chosen.outcome.refs
            ]
            have = {(d.get("type"), str(d.get("id"))) for d in (entry.links if entry else [])}
            unchanged = prints.get(key) == decide.event_fingerprint(event)
            if (
                entry is not None
                and unchanged
                and all((link.ref.type, link.ref.id) in have for link in links)
            ):
                result.counts["already_saved"] += 1
                continue
            draft = decide.event_draft(event, key, links, self.owner_id)
            planned.append(
                Planned(event, key, draft, "meeting", [p.address for p in event.participants])
            )
        self._save(planned, "meeting", result, known)
        # Graph's removal notice carries only this mailbox's event id: remember what it is.
        ledger_io.put_event_keys(self.db, self.user.org_id, self.user.id, linked)
        return result

    def process_removed_events(
        self, event_ids: list[str], fetch: Callable[[list[str]], dict[str, Event | None]]
    ) -> PageResult:
        """Events gone from this user's calendar view. Graph also reports an event moved out
        of the window this way, so each is looked up (`fetch`: in `$batch`es; None once
        deleted): one that still exists is saved as it now is. A deleted one marks the meeting
        cancelled when no other user of the organisation still has it (an attendee tidying
        their own calendar does not cancel it for everyone); nothing is ever deleted from the
        CRM.

        A whole series deleted comes as one `@removed` entry, for its series master, and
        nothing for its occurrences (microsoft-graph-docs#4501: a calendarView delta gives
        "no indication" of a deleted occurrence; the master is the series' only item of its
        own). So a removed master stands for every occurrence of it this user's sync linked,
        and each goes through the same steps as an occurrence deleted alone: looked up (one
        still there was not deleted: a master outside the window that changed is reported
        removed too, event-delta.md), then marked cancelled unless another user has it."""
        result = PageResult(read=len(event_ids))
        mapped = ledger_io.event_keys(self.db, self.user.id, event_ids)
        masters = set(event_ids) - set(mapped)
        occurrences = ledger_io.occurrence_keys(self.db, self.user.id, masters)
        found = {row.series_master_id for row in occurrences.values()}
        result.counts["removed_series"] += len(found)
        result.counts["removed_unknown"] += len(masters - found)
        mapped = {**occurrences, **mapped}
        if not mapped:
            return result
        ledger_io.drop_event_keys(self.db, self.user.id, list(mapped))
        still_there = [e for e in fetch(sorted(mapped)).values() if e is not None]
        if still_there:
            moved = self.process_events(still_there)
            result.saved += moved.saved
            result.errors += moved.errors
            result.counts["removed_but_moved"] += len(still_there)
            kept = {e.id for e in still_there}
            mapped = {k: v for k, v in mapped.items() if k not in kept}
        keys = sorted({row.item_key for row in mapped.values()})
        still_held = ledger_io.keys_held_by_others(self.db, self.user.org_id, self.user.id, keys)
        known = ledger_io.entries(self.db, self.user.org_id, self.target, keys)
        planned: list[Planned] = []
        for row in mapped.values():
            entry = known.get(row.item_key)
            if row.item_key in still_held:
                result.counts["removed_by_one_attendee"] += 1
                continue
            if entry is None or entry.status != "saved" or row.start is None:
                result.counts["removed_unsaved"] += 1
                continue
            draft = ActivityDraft(
                key=row.item_key,
                kind="meeting",
                subject=row.subject,
                start=row.start,
                end=row.end,
                links=decide.links_from_dicts(entry.links),
                owner_id=self.owner_id,
                cancelled=True,
            )
            result.counts["removed_marked_cancelled"] += 1
            planned.append(Planned(row, row.item_key, draft, "meeting", entry.participants or []))
        self._save(planned, "meeting", result, known)
        return result
