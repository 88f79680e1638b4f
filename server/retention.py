"""Retention: rows that only record what happened are deleted once older than their setting.

Declared as data: one `Retention` per table. The ledger (what was saved where, which keeps a
re-read email from being written twice) is deliberately not in the list. To prune another
table, add one line with its age column and a days setting in config.py.
Runs hourly as a periodic job (server/periodic.py) and on demand with `flask prune`.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime, timedelta

import click
from flask import current_app
from flask.cli import with_appcontext
from sqlalchemy import ColumnElement, delete, select

from .db import get_session, utcnow
from .models.admin import AuditEvent
from .models.sync import SyncSession

log = logging.getLogger(__name__)

BATCH_ROWS = 1000  # short transactions: never one huge DELETE holding locks


@dataclass(frozen=True)
class Retention:
    name: str
    model: type
    age_column: str
    days_setting: str  # a Settings field, in days
    # Rows that must stay whatever their age (e.g. a session still running).
    keep: Callable[[], ColumnElement[bool]] | None = field(default=None)


RETENTION: tuple[Retention, ...] = (
    Retention(
        "sync_sessions",
        SyncSession,
        "started_at",
        "SYNC_SESSION_RETENTION_DAYS",
        keep=lambda: SyncSession.status == "running",
    ),
    Retention("audit_events", AuditEvent, "created_at", "AUDIT_RETENTION_DAYS"),
)


def prune_one(rule: Retention, now: datetime) -> int:
    session = get_session()
    cutoff = now - timedelta(days=current_app.config[rule.days_setting])
    pk = rule.model.__mapper__.primary_key[0]
    condition = getattr(rule.model, rule.age_column) < cutoff
    if rule.keep is not None:
        condition = condition & ~rule.keep()
    deleted = 0
    while True:
        ids = session.scalars(select(pk).where(condition).limit(BATCH_ROWS)).all()
        if not ids:
            return deleted
        session.execute(delete(rule.model).where(pk.in_(ids)))
        session.commit()
        deleted += len(ids)


def prune(now: datetime | None = None) -> dict[str, int]:
    """Delete what is past retention in every declared table; rows deleted per table."""
    now = now or utcnow()
    counts = {rule.name: prune_one(rule, now) for rule in RETENTION}
    log.info("retention pruned %s rows", sum(counts.values()), extra={"deleted": counts})
    return counts


@click.command("prune", help="Delete rows past their retention (runs hourly by itself).")
@with_appcontext
def prune_command() -> None:
    for name, count in prune().items():
        click.echo(f"{name}: {count} rows deleted")
