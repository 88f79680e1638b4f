"""Multi-row inserts that skip rows hitting a unique constraint: how the built-in CRM writes
activities and links idempotently, even against a concurrent writer of the same rows."""

from __future__ import annotations

from sqlalchemy import insert
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

CHUNK = 500  # rows per multi-row INSERT


def insert_ignoring_duplicates(
    session: Session, table, rows: list[dict], returning: tuple
) -> set[tuple]:
    """Insert rows, skipping those that hit a unique constraint; returns `returning` of the
    rows this statement actually inserted (a concurrent writer's rows are not ours)."""
    if not rows:
        return set()
    inserted: set[tuple] = set()
    dialect = session.get_bind().dialect.name
    if dialect in ("sqlite", "postgresql"):
        module = sqlite if dialect == "sqlite" else postgresql
        for start in range(0, len(rows), CHUNK):
            stmt = (
                module.insert(table)
                .values(rows[start : start + CHUNK])
                .on_conflict_do_nothing()
                .returning(*returning)
            )
            inserted.update(tuple(row) for row in session.execute(stmt))
        return inserted
    for row in rows:  # other databases: one savepoint per row
        try:
            with session.begin_nested():
                result = session.execute(insert(table).returning(*returning), [row])
                inserted.add(tuple(result.one()))
        except IntegrityError:
            continue
    return inserted
