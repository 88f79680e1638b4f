"""Save to CRM from the pane: idempotent through the ledger, never lost.

The ledger row and the CRM write happen in one transaction (the built-in CRM writes through
the same session; a remote CRM's write carries our key, so a retry finds it). When the CRM
cannot be reached the save is queued on the "saves" queue with RQ retries and the ledger row
stays "pending" until the job has written it.
"""

from __future__ import annotations

import logging
from datetime import UTC, datetime, timedelta
from typing import Any

from rq import Retry
from sqlalchemy import select
from sqlalchemy.exc import IntegrityError

from ..crm import crm_for
from ..crm.base import (
    CRM,
    ActivityDraft,
    ActivityParticipant,
    CRMBudgetExceeded,
    CRMError,
    CRMUnavailable,
    Link,
    Person,
    RecordRef,
)
from ..db import get_session, utcnow
from ..errors import ApiError
from ..models.ledger import LedgerEntry, ThreadRule
from ..models.tenancy import User
from ..policy import effective_policy
from ..queues import enqueue
from ..sync.ledger_io import crm_target
from .items import PaneItem
from .records import crm_error, existing_records
from .suggestions import ledger_entry

log = logging.getLogger(__name__)
SAVE_RETRY = Retry(max=6, interval=[10, 30, 60, 300, 900, 3600])
JOB_PATH = "server.pane.saves.run_queued_save"


def _roles(item: PaneItem) -> dict[str, str]:
    roles: dict[str, str] = {}
    message = item.message
    for role, people in (("from", [message.from_]), ("to", message.to), ("cc", message.cc)):
        for person in people:
            if person is not None and person.valid:
                roles.setdefault(person.address, role)
    return roles


def _links(
    records: dict[RecordRef, Any], refs: list[RecordRef], roles: dict[str, str]
) -> list[Link]:
    out = []
    for ref in refs:
        record = records[ref]
        role = "related"
        if isinstance(record, Person):
            role = next((roles[e.lower()] for e in record.emails if e.lower() in roles), "related")
        out.append(Link(ref, role))
    return out


def _refuse_blocked(user: User, records: dict[RecordRef, Any], roles: dict[str, str]) -> None:
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


def build_draft(user: User, crm: CRM, item: PaneItem, links: list[Link]) -> ActivityDraft:
    message = item.message
    own = user.own_addresses
    sender = message.from_.address if message.from_ else ""
    names = {p.address: p.name for p in message.participants}
    participants = [
        ActivityParticipant(address, names.get(address, ""), role)
        for address, role in _roles(item).items()
    ]
    return ActivityDraft(
        key=item.key,
        kind="email",
        subject=item.subject,
        start=item.sent_at or utcnow(),
        body_text=message.body_text,
        direction="outbound" if sender in own else "inbound",
        conversation_id=item.conversation_id,
        participants=participants,
        links=links,
        owner_id=crm.owner_id_for(user),
    )


def draft_to_json(draft: ActivityDraft) -> dict[str, Any]:
    return {
        "key": draft.key,
        "subject": draft.subject,
        "start": draft.start.isoformat(),
        "body_text": draft.body_text,
        "direction": draft.direction,
        "conversation_id": draft.conversation_id,
        "owner_id": draft.owner_id,
        "participants": [[p.address, p.name, p.role] for p in draft.participants],
        "links": [[link.ref.type, link.ref.id, link.role] for link in draft.links],
    }


def draft_from_json(data: dict[str, Any]) -> ActivityDraft:
    return ActivityDraft(
        key=data["key"],
        kind="email",
        subject=data["subject"],
        start=datetime.fromisoformat(data["start"]).astimezone(UTC),
        body_text=data["body_text"],
        direction=data["direction"],
        conversation_id=data["conversation_id"],
        owner_id=data["owner_id"],
        participants=[ActivityParticipant(a, n, r) for a, n, r in data["participants"]],
        links=[Link(RecordRef(t, i), r) for t, i, r in data["links"]],
    )


def _link_dicts(links: list[Link]) -> list[dict[str, str]]:
    return [{"type": link.ref.type, "id": link.ref.id, "role": link.role} for link in links]


def _merge_links(old: list[dict], new: list[Link]) -> list[dict]:
    seen = {(d["type"], str(d["id"])) for d in old}
    return [*old, *(d for d in _link_dicts(new) if (d["type"], d["id"]) not in seen)]


def save_item(user: User, item: PaneItem, refs: list[RecordRef], auto_save_thread: bool) -> dict:
    crm = crm_for(user)
    records = existing_records(crm, refs)
    roles = _roles(item)
    _refuse_blocked(user, records, roles)
    links = _links(records, refs, roles)
    draft = build_draft(user, crm, item, links)
    session = get_session()
    entry = ledger_entry(user, crm, item.key)
    before = {(d["type"], str(d["id"])) for d in ((entry.links or []) if entry else [])}
    chosen = {(link.ref.type, link.ref.id) for link in links}
    if entry is not None and entry.status == "saved" and chosen <= before:
        result = {"status": "already_saved", "key": item.key, "activity_id": entry.activity_id}
    elif entry is not None and entry.status == "pending":
        entry.links = _merge_links(entry.links or [], links)
        session.commit()
        result = {"status": "pending", "key": item.key}
    else:
        result = _write(user, crm, item, draft, entry)
    if auto_save_thread:
        set_thread_rule(user, item.conversation_id, refs, True)
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
) -> dict:
    session = get_session()
    if entry is None:
        entry = _new_entry(user, crm, item)
        session.add(entry)
    try:
        session.flush()
        logged = crm.log_emails([draft])[0]
    except IntegrityError:
        # Someone (the sync, another pane) claimed this email a moment ago: save onto theirs.
        session.rollback()
        return _write(user, crm, item, draft, ledger_entry(user, crm, item.key))
    except (CRMUnavailable, CRMBudgetExceeded) as exc:
        session.rollback()
        return _queue(user, crm, item, draft, str(exc))
    except CRMError as exc:
        session.rollback()
        raise crm_error(exc) from None
    entry.status = "saved"
    entry.activity_id = logged.id
    entry.links = _merge_links(entry.links or [], draft.links)
    entry.last_error = ""
    session.commit()
    return {"status": "saved", "key": item.key, "activity_id": logged.id}


def _queue(user: User, crm: CRM, item: PaneItem, draft: ActivityDraft, error: str) -> dict:
    session = get_session()
    entry = ledger_entry(user, crm, item.key) or _new_entry(user, crm, item)
    session.add(entry)
    entry.status = "pending"
    entry.links = _merge_links(entry.links or [], draft.links)
    entry.pending_draft = draft_to_json(draft)
    entry.last_error = error[:500]
    session.commit()
    enqueue_pending_save(entry.id)
    log.info("CRM unreachable: save queued", extra={"ledger_id": entry.id})
    return {"status": "pending", "key": item.key}


def enqueue_pending_save(ledger_id: int) -> None:
    enqueue(
        JOB_PATH,
        ledger_id,
        queue="saves",
        job_id=f"pane-save-{ledger_id}",
        retry=SAVE_RETRY,
        timeout=120,
    )


def requeue_pending_saves(older_than: timedelta = timedelta(minutes=5)) -> int:
    """Tick hook: queue again every pending save whose job is gone (Redis flushed, a worker
    died). The unique job id keeps a save that is still queued from running twice."""
    session = get_session()
    stale = session.scalars(
        select(LedgerEntry.id).where(
            LedgerEntry.status == "pending",
            LedgerEntry.pending_draft.is_not(None),
            LedgerEntry.updated_at < utcnow() - older_than,
        )
    ).all()
    for ledger_id in stale:
        enqueue_pending_save(ledger_id)
    return len(stale)


def run_queued_save(ledger_id: int) -> str:
    """RQ job: write a queued pane save. Raises on CRMUnavailable so RQ retries it."""
    from rq import get_current_job

    session = get_session()
    entry = session.get(LedgerEntry, ledger_id)
    if entry is None or entry.status != "pending" or entry.user_id is None:
        return "nothing to do"
    draft_data = entry.pending_draft
    if not draft_data:
        return "nothing to do"
    user = session.get(User, entry.user_id)
    crm = crm_for(user)
    draft = draft_from_json(draft_data)
    known = {(kind, str(record)) for kind, record, _role in draft_data["links"]}
    extra = [
        Link(RecordRef(d["type"], str(d["id"])), d.get("role", "related"))
        for d in entry.links or []
        if (d["type"], str(d["id"])) not in known
    ]
    draft.links = [*draft.links, *extra]
    try:
        logged = crm.log_emails([draft])[0]
    except CRMError as exc:
        session.rollback()
        entry = session.get(LedgerEntry, ledger_id)
        job = get_current_job()
        transient = isinstance(exc, CRMUnavailable | CRMBudgetExceeded)
        last_try = job is None or not job.retries_left
        entry.last_error = str(exc)[:500]
        if not transient or last_try:
            entry.status = "failed"
        session.commit()
        if transient and not last_try:
            raise
        return "failed"
    entry.status = "saved"
    entry.activity_id = logged.id
    entry.links = _merge_links(entry.links or [], draft.links)
    entry.pending_draft = None
    entry.last_error = ""
    session.commit()
    return "saved"


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


def set_thread_rule(
    user: User, conversation_id: str, refs: list[RecordRef], enabled: bool
) -> dict[str, Any]:
    if not conversation_id:
        raise ApiError(400, "missing_field", "conversation_id is required", field="conversation_id")
    session = get_session()
    rule = session.scalar(
        select(ThreadRule).where(
            ThreadRule.user_id == user.id, ThreadRule.conversation_id == conversation_id
        )
    )
    if enabled and not refs and not (rule and rule.links):
        raise ApiError(
            400, "missing_field", "choose the records this thread saves to", field="links"
        )
    if refs:
        existing_records(crm_for(user), refs)
    if rule is None:
        rule = ThreadRule(
            org_id=user.org_id, user_id=user.id, conversation_id=conversation_id, links=[]
        )
        session.add(rule)
    if refs:
        rule.links = [r.as_dict() for r in refs]
    rule.enabled = enabled
    try:
        session.commit()
    except IntegrityError:
        session.rollback()
        return set_thread_rule(user, conversation_id, refs, enabled)
    return {
        "conversation_id": conversation_id,
        "auto_save": rule.enabled,
        "links": list(rule.links or []),
    }
