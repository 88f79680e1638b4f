"""Save to CRM from the pane: idempotent through the ledger, never lost.

The activity writer's protocol (server/activity_writer.py): the ledger row is claimed first
(pending, with the draft, committed), the CRM is written by our key with no transaction open,
then the row is marked saved. When the CRM cannot be reached the save is queued on the
"saves" queue with RQ retries (save_queue.py) and the row stays "pending" until the job (or,
once its retries are used up, the tick or a re-save) has written it.
"""

from __future__ import annotations

import logging
import uuid
from typing import Any

from .. import activity_writer, metrics
from ..admin.audit import record_audit
from ..crm import crm_for
from ..crm.base import (
    CRM,
    ActivityDraft,
    CRMBudgetExceeded,
    CRMError,
    CRMUnavailable,
    Person,
    Record,
    RecordRef,
)
from ..db import get_session
from ..errors import ApiError
from ..models.ledger import LedgerEntry
from ..models.tenancy import User
from ..policy import effective_policy
from ..sync.ledger_io import crm_target
from .drafts import (
    build_draft,
    draft_to_json,
    links_for,
    merge_links,
    participant_roles,
)
from .items import PaneItem
from .records import crm_error, existing_records

# The "saves" queue's job lives in save_queue.py; run_queued_save stays importable from here
# for jobs queued under its earlier path.
from .save_queue import enqueue_pending_save, requeue_pending_saves, run_queued_save  # noqa: F401
from .state import ledger_entry
from .threads import set_thread_rule

log = logging.getLogger(__name__)


def _refuse_blocked(user: User, records: dict[RecordRef, Record], roles: dict[str, str]) -> None:
    """A person whose address in this email is on a do-not-sync list is never linked."""
    policy = effective_policy(user)
    for ref, record in records.items():
        if not isinstance(record, Person):
            continue
        here = [e.lower() for e in record.emails if e.lower() in roles]
        if here and all(policy.classify(e) in ("blocked", "excluded") for e in here):
            raise ApiError(
                409,
                "blocked_record",
                f"{record.name} is on a do-not-sync list.",
                record=ref.as_dict(),
            )


def save_item(user: User, item: PaneItem, refs: list[RecordRef], auto_save_thread: bool) -> dict:
    crm = crm_for(user)
    get_session().commit()  # no read transaction open across the CRM's look-ups either
    records = existing_records(crm, refs)
    roles = participant_roles(item)
    _refuse_blocked(user, records, roles)
    links = links_for(records, refs, roles)
    draft = build_draft(item, links, user.own_addresses, crm.owner_id_for(user))
    session = get_session()
    entry = ledger_entry(user, crm, item.key)
    before = {(d["type"], str(d["id"])) for d in ((entry.links or []) if entry else [])}
    chosen = {(link.ref.type, link.ref.id) for link in links}
    if entry is not None and entry.status == "saved" and chosen <= before:
        result = {"status": "already_saved", "key": item.key, "activity_id": entry.activity_id}
    elif entry is not None and entry.status == "pending":
        # A write that failed (its error is recorded) may have used up its retries: saving
        # again queues it again. A row with no failure is being written right now by the
        # writer that claimed it (the sync, another pane): a second write could create the
        # email twice where the CRM's key is looked up first (Salesforce MessageIdentifier),
        # so it only gets our links; the tick re-drives it once that writer's lease is over.
        failed_before = bool(entry.last_error) or not activity_writer.is_held(entry)
        entry.links = merge_links(entry.links or [], links)
        session.commit()
        if entry.pending_draft and failed_before:
            enqueue_pending_save(entry.id)
        result = {"status": "pending", "key": item.key}
    else:
        result, entry = _write(user, crm, item, draft, entry)
    if auto_save_thread:
        set_thread_rule(user, item.conversation_id, refs, True)
    if result["status"] != "already_saved":
        # Manual saves are in the organisation's audit log (by key and records, not content).
        record_audit(
            user.org_id,
            "activity.saved_manually",
            actor=user,
            target_type="email",
            target_id=entry.id if entry is not None else "",
            target=item.key,
            after={
                "status": result["status"],
                "records": sorted(f"{t}:{i}" for t, i in chosen),
                "thread_auto_save": auto_save_thread,
            },
        )
    return result


def _new_entry(user: User, crm: CRM, item: PaneItem) -> LedgerEntry:
    return LedgerEntry(
        org_id=user.org_id,
        item_key=item.key,
        kind="email",
        crm_target=crm_target(crm),
        user_id=user.id,
        status="pending",
        source="manual",
        conversation_id=item.conversation_id[:512],
        subject=item.subject[:255],
        participants=[p.address for p in item.message.participants if p.valid][:200],
        links=[],
        item_at=item.sent_at,
    )


def _write(
    user: User, crm: CRM, item: PaneItem, draft: ActivityDraft, entry: LedgerEntry | None
) -> tuple[dict, LedgerEntry | None]:
    """The activity writer's protocol: claim the ledger row (pending, with the draft;
    committed), write to the CRM by key with no transaction open, then mark it saved. An
    email saved before (by the sync, another user) is written again by key to add links; one
    another writer is saving right now gets our links through its row. The writer's lease is
    renewed while the CRM call lasts, so the tick never re-drives the row meanwhile. Returns
    the answer and the email's ledger row."""
    with activity_writer.Writer(f"pane:{user.id}:{uuid.uuid4().hex[:12]}") as writer:
        return _write_as(writer, user, crm, item, draft, entry)


def _write_as(
    writer: activity_writer.Writer,
    user: User,
    crm: CRM,
    item: PaneItem,
    draft: ActivityDraft,
    entry: LedgerEntry | None,
) -> tuple[dict, LedgerEntry | None]:
    session = get_session()
    target = crm_target(crm)
    claimed = False
    if entry is not None and entry.status == "removed":
        # The user removed it from the CRM (removal.py); their own save brings it back.
        if not activity_writer.reclaim_removed(session, entry.id, user.id, draft, writer):
            return {"status": "pending", "key": item.key}, entry
        claimed = True
    elif entry is None or entry.status == "failed":
        row = activity_writer.pending_row(
            org_id=user.org_id,
            user_id=user.id,
            target=target,
            source="manual",
            draft=draft,
            conversation_id=item.conversation_id,
            participants=[p.address for p in item.message.participants if p.valid],
        )
        claimed = item.key in activity_writer.claim(session, [row], writer)
        entry = ledger_entry(user, crm, item.key)
        if not claimed and entry.status != "saved":
            # Another writer (the sync, another pane) is writing this email right now.
            activity_writer.join(session, user.org_id, target, draft)
            session.commit()
            return {"status": "pending", "key": item.key}, entry
    session.commit()  # no transaction stays open across the CRM call
    try:
        logged = crm.log_emails([draft])[0]
    except (CRMUnavailable, CRMBudgetExceeded) as exc:
        session.rollback()
        return _queue(user, crm, item, draft, str(exc))
    except CRMError as exc:
        session.rollback()
        if claimed:  # refused for good: the row says so instead of waiting for ever
            failed = ledger_entry(user, crm, item.key)
            failed.status, failed.last_error = "failed", str(exc)[:500]
            failed.lease_until = None
            session.commit()
        raise crm_error(exc) from None
    activity_writer.mark_saved(
        session, user.org_id, target, item.key, logged.id, draft.links, logged.links
    )
    session.commit()
    metrics.inc("courier_items_saved", source="pane")
    return {"status": "saved", "key": item.key, "activity_id": logged.id}, entry


def _queue(
    user: User, crm: CRM, item: PaneItem, draft: ActivityDraft, error: str
) -> tuple[dict, LedgerEntry]:
    session = get_session()
    entry = ledger_entry(user, crm, item.key) or _new_entry(user, crm, item)
    session.add(entry)
    entry.status = "pending"
    entry.links = merge_links(entry.links or [], draft.links)
    entry.pending_draft = draft_to_json(draft)
    entry.last_error = error[:500]
    entry.lease_until = None  # this writer stops here: the queued job takes the row over
    session.commit()
    enqueue_pending_save(entry.id)
    log.info("CRM unreachable: save queued", extra={"ledger_id": entry.id})
    return {"status": "pending", "key": item.key}, entry


def saved_state(user: User, item: PaneItem) -> dict[str, Any]:
    crm = crm_for(user)
    entry = ledger_entry(user, crm, item.key)
    if entry is None:
        return {"status": None, "key": item.key}
    return {
        "status": entry.status,
        "key": item.key,
        "activity_id": entry.activity_id,
        "error": entry.last_error if entry.status != "saved" else "",
    }
