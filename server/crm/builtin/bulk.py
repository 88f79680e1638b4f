"""Inserts that skip rows hitting a unique constraint: how the built-in CRM writes activities
and links idempotently, even against a concurrent writer of the same rows.

One cached statement executed with the list of rows (SQLAlchemy's "insertmanyvalues": a few
multi-row INSERTs batched by the driver layer, with RETURNING). Building a fresh multi-row
INSERT ... VALUES per batch instead compiled a new statement with a bind parameter per cell
every time, which was most of a sync's CPU.
"""

from __future__ import annotations

from sqlalchemy import insert
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

_STATEMENTS: dict[tuple, object] = {}


def _statement(dialect: str, table, returning: tuple):
    """INSERT ... ON CONFLICT DO NOTHING RETURNING ..., built once per (dialect, table, columns):
    the same object each time also spares SQLAlchemy the cache-key walk of a new one."""
    cache_key = (dialect, table.name, tuple(c.name for c in returning))
    stmt = _STATEMENTS.get(cache_key)
    if stmt is None:
        module = sqlite if dialect == "sqlite" else postgresql
        stmt = module.insert(table).on_conflict_do_nothing().returning(*returning)
        _STATEMENTS[cache_key] = stmt
    return stmt


def insert_ignoring_duplicates(
    session: Session, table, rows: list[dict], returning: tuple
) -> list[tuple]:
    """Insert rows, skipping those that hit a unique constraint; returns `returning` of the
    rows this call actually inserted (a concurrent writer's rows are not ours). Every row must
    have the same keys."""
    if not rows:
        return []
    dialect = session.get_bind().dialect.name
    if dialect in ("sqlite", "postgresql"):
        result = session.execute(_statement(dialect, table, returning), rows)
        return [tuple(row) for row in result]
    inserted: list[tuple] = []
    for row in rows:  # other databases: one savepoint per row
        try:
            with session.begin_nested():
                result = session.execute(insert(table).returning(*returning), [row])
                inserted.append(tuple(result.one()))
        except IntegrityError:
            continue
    return inserted
