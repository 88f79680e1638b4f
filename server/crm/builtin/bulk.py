"""Inserts that skip rows hitting a unique constraint: how the built-in CRM writes activities
and links idempotently, even against a concurrent writer of the same rows.

SQLite: one cached statement executed with the list of rows (SQLAlchemy's "insertmanyvalues":
multi-row INSERTs with RETURNING, built by the driver layer). PostgreSQL: one INSERT ... SELECT
FROM unnest() with an array per column, so the statement text and its handful of parameters
are the same for any number of rows (psycopg then neither re-parses a statement of thousands
of placeholders nor pays per-row work). Building a fresh multi-row INSERT ... VALUES per batch
instead compiled a new statement with a bind parameter per cell every time, which was most
of a sync's CPU.
"""

from __future__ import annotations

import json
from datetime import datetime

from sqlalchemy import JSON, Boolean, Integer, TypeDecorator, insert, text
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
    if dialect == "postgresql":
        return _unnest_insert(session, table, rows, returning)
    if dialect == "sqlite":
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


def _array_type(column) -> str:
    """The PostgreSQL array to cast a column's values to. Strings go as text[]: a cast to
    varchar(n)[] would silently cut an over-long value that the INSERT itself refuses."""
    kind = column.type
    if isinstance(kind, TypeDecorator):
        kind = kind.impl
    if isinstance(kind, JSON):
        return "json[]"
    if isinstance(kind, Boolean):
        return "boolean[]"
    if isinstance(kind, Integer):
        return "integer[]"
    if getattr(kind, "timezone", None) is not None and kind.python_type is datetime:
        return "timestamptz[]" if kind.timezone else "timestamp[]"
    return "text[]"


_UNNEST: dict[tuple, str] = {}


def _unnest_sql(session: Session, table, names: tuple[str, ...], returning: tuple) -> str:
    cache_key = (table.name, names, tuple(c.name for c in returning))
    sql = _UNNEST.get(cache_key)
    if sql is None:
        quote = session.get_bind().dialect.identifier_preparer.quote
        arrays = ", ".join(
            f"CAST(:c{i} AS {_array_type(table.c[name])})" for i, name in enumerate(names)
        )
        # Identifiers only, all of them the table's own (table.c[name] above), quoted.
        columns = ", ".join(quote(n) for n in names)
        back = ", ".join(quote(c.name) for c in returning)
        sql = f"INSERT INTO {quote(table.name)} ({columns}) SELECT * FROM unnest({arrays})"  # noqa: S608
        sql += f" ON CONFLICT DO NOTHING RETURNING {back}"
        _UNNEST[cache_key] = sql
    return sql


def _unnest_insert(session: Session, table, rows: list[dict], returning: tuple) -> list[tuple]:
    names = tuple(rows[0])
    dialect = session.get_bind().dialect
    params = {}
    for i, name in enumerate(names):
        column_type = table.c[name].type
        values = [row[name] for row in rows]
        if isinstance(column_type, TypeDecorator):  # e.g. UTCDateTime's checks and zone
            values = [column_type.process_bind_param(v, dialect) for v in values]
            column_type = column_type.impl
        if isinstance(column_type, JSON):
            dumps = getattr(dialect, "_json_serializer", None) or json.dumps
            values = [None if v is None else dumps(v) for v in values]
        params[f"c{i}"] = values
    result = session.execute(text(_unnest_sql(session, table, names, returning)), params)
    return [tuple(row) for row in result]
