"""The audit log: `record_audit` is the one way every admin action, setting change, role
change, allow/disallow, sync switch, revocation, manual save and export is recorded.

Append-only: this module inserts rows and reads them; nothing updates or deletes one. Each
event is also logged as a structured line with the same fields (`extra`), for log pipelines.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from flask import g, has_request_context, request
from sqlalchemy import func, select

from ..db import get_session
from ..models.admin import AuditEvent
from ..models.tenancy import Organisation, User

log = logging.getLogger("courier.audit")

CSV_COLUMNS = (
    "when",
    "who",
    "address",
    "action",
    "target_type",
    "target_id",
    "target",
    "before",
    "after",
)


def _actor() -> User | None:
    return getattr(g, "user", None) if has_request_context() else None


def _client_address() -> str:
    # request.remote_addr is already the client's behind trusted proxies (ProxyFix).
    return (request.remote_addr or "")[:64] if has_request_context() else ""


def record_audit(
    org_id: int,
    action: str,
    *,
    target_type: str = "",
    target_id: str | int = "",
    target: str = "",
    before: Mapping[str, Any] | None = None,
    after: Mapping[str, Any] | None = None,
    actor: User | None = None,
    actor_label: str = "",
    commit: bool = True,
) -> AuditEvent:
    """Record one event. The actor defaults to the signed-in user of the request; commands
    without one (the CLI) pass `actor_label`."""
    who = actor if actor is not None else _actor()
    event = AuditEvent(
        org_id=org_id,
        actor_id=who.id if who is not None else None,
        actor=(who.email if who is not None else actor_label)[:320],
        ip=_client_address(),
        action=action,
        target_type=target_type,
        target_id=str(target_id)[:64],
        target=target[:320],
        before=dict(before) if before is not None else None,
        after=dict(after) if after is not None else None,
    )
    db = get_session()
    db.add(event)
    if commit:
        db.commit()
    else:
        db.flush()
    log.info(
        "audit %s",
        action,
        extra={
            "audit": True,
            "org_id": org_id,
            "actor_id": event.actor_id,
            "actor": event.actor,
            "ip": event.ip,
            "action": action,
            "target_type": target_type,
            "target_id": event.target_id,
            "before": event.before,
            "after": event.after,
            "at": event.created_at.isoformat() if event.created_at else None,
        },
    )
    return event


@dataclass(frozen=True)
class AuditFilter:
    action: str = ""
    actor: str = ""
    target: str = ""
    since: datetime | None = None
    until: datetime | None = None


def record_org_audit(org: Organisation, action: str, **fields: Any) -> AuditEvent:
    """Record an event whose target is the organisation itself (settings, mode, scope,
    consent, directory refresh); `fields` as record_audit's."""
    return record_audit(
        org.id, action, target_type="organisation", target_id=org.id, target=org.name, **fields
    )


def _query(org_id: int, flt: AuditFilter):
    query = select(AuditEvent).where(AuditEvent.org_id == org_id)
    if flt.action:
        query = query.where(AuditEvent.action.like(f"{flt.action}%"))
    if flt.actor:
        query = query.where(func.lower(AuditEvent.actor).contains(flt.actor.lower()))
    if flt.target:
        query = query.where(func.lower(AuditEvent.target).contains(flt.target.lower()))
    if flt.since:
        query = query.where(AuditEvent.created_at >= flt.since)
    if flt.until:
        query = query.where(AuditEvent.created_at < flt.until)
    return query


def count_events(org_id: int, flt: AuditFilter) -> int:
    inner = _query(org_id, flt).with_only_columns(AuditEvent.id).subquery()
    return get_session().scalar(select(func.count()).select_from(inner)) or 0


def list_events(org_id: int, flt: AuditFilter, offset: int = 0, limit: int = 50):
    query = _query(org_id, flt).order_by(AuditEvent.created_at.desc(), AuditEvent.id.desc())
    return list(get_session().scalars(query.offset(offset).limit(limit)))


def action_names(org_id: int) -> list[str]:
    rows = get_session().scalars(
        select(AuditEvent.action).where(AuditEvent.org_id == org_id).distinct()
    )
    return sorted(rows)


def csv_rows(events: Iterable[AuditEvent]):
    for e in events:
        yield [
            e.created_at.isoformat(),
            e.actor,
            e.ip,
            e.action,
            e.target_type,
            e.target_id,
            e.target,
            _flat(e.before),
            _flat(e.after),
        ]


def _flat(value: Mapping[str, Any] | None) -> str:
    return "" if value is None else json.dumps(value, ensure_ascii=False, sort_keys=True)
