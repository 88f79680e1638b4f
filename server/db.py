"""Database: SQLAlchemy 2 engine and sessions, Alembic migrations, CLI commands.

Code gets its session with `get_session()`; inside a request or a job the same session
is reused and closed when the app context ends.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import click
from flask import Flask, current_app, g
from sqlalchemy import DateTime, MetaData, create_engine, event
from sqlalchemy.engine import CursorResult, Engine
from sqlalchemy.orm import DeclarativeBase, Session, sessionmaker
from sqlalchemy.sql.expression import Executable
from sqlalchemy.types import TypeDecorator

from .config import PROJECT_ROOT, sqlite_path

NAMING = {
    "ix": "ix_%(column_0_label)s",
    "uq": "uq_%(table_name)s_%(column_0_N_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}


class Base(DeclarativeBase):
    metadata = MetaData(naming_convention=NAMING)


class UTCDateTime(TypeDecorator):
    """Timezone-aware UTC datetimes on every backend (SQLite forgets the zone)."""

    impl = DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value, dialect):
        if value is not None and value.tzinfo is None:
            raise ValueError("naive datetime given; use datetime.now(UTC)")
        return value.astimezone(UTC) if value is not None else None

    def process_result_value(self, value, dialect):
        if value is not None and value.tzinfo is None:
            return value.replace(tzinfo=UTC)
        return value


def utcnow() -> datetime:
    return datetime.now(UTC)


def make_engine(url: str) -> Engine:
    if url.startswith("sqlite"):
        path = sqlite_path(url)
        if path is not None:
            path.parent.mkdir(parents=True, exist_ok=True)
        engine = create_engine(url, connect_args={"timeout": 30})

        @event.listens_for(engine, "connect")
        def _sqlite_pragmas(dbapi_conn, _record):
            # WAL lets the web server read while a worker writes; foreign keys are off by default.
            cur = dbapi_conn.cursor()
            cur.execute("PRAGMA journal_mode=WAL")
            cur.execute("PRAGMA foreign_keys=ON")
            cur.execute("PRAGMA synchronous=NORMAL")
            cur.close()

        return engine
    return create_engine(url, pool_pre_ping=True, pool_size=5, max_overflow=10)


def init_app(app: Flask) -> None:
    engine = make_engine(app.config["DATABASE_URL"])
    app.extensions["db_engine"] = engine
    app.extensions["db_sessionmaker"] = sessionmaker(bind=engine, expire_on_commit=False)
    app.teardown_appcontext(_close_session)
    app.cli.add_command(db_group)
    # RQ forks a work horse per job: pooled connections must not be shared across the fork.
    os.register_at_fork(after_in_child=lambda: engine.dispose(close=False))


def get_engine() -> Engine:
    return current_app.extensions["db_engine"]


def get_session() -> Session:
    if "db_session" not in g:
        g.db_session = current_app.extensions["db_sessionmaker"]()
    return g.db_session


def read_rows(session: Session, statement: Executable, params: Mapping[str, Any]) -> CursorResult:
    """The rows of a SELECT of columns (not of mapped objects), run on the session's own
    connection and transaction. It skips the ORM's per-statement work, which cost about a third
    of the CPU of the small look-ups made on every pane request (bench/pane.py). Pending
    changes are flushed first, as `Session.execute` would (unless autoflush is off)."""
    if session.autoflush:
        session.flush()
    return session.connection().execute(statement, params)


def _close_session(_exc: BaseException | None) -> None:
    session = g.pop("db_session", None)
    if session is not None:
        session.close()


def alembic_config(database_url: str):
    from alembic.config import Config

    cfg = Config(str(PROJECT_ROOT / "migrations" / "alembic.ini"))
    cfg.set_main_option("script_location", str(PROJECT_ROOT / "migrations"))
    cfg.set_main_option("sqlalchemy.url", database_url.replace("%", "%%"))
    return cfg


def upgrade_schema(database_url: str, revision: str = "head") -> None:
    from alembic import command

    path = sqlite_path(database_url)
    if path is not None:
        Path(path).parent.mkdir(parents=True, exist_ok=True)
    command.upgrade(alembic_config(database_url), revision)


@click.group("db", help="Database schema commands.")
def db_group() -> None:
    pass


@db_group.command("upgrade", help="Upgrade the database schema to the newest migration.")
def upgrade_command() -> None:
    import server.models  # noqa: F401  (every table registered)

    upgrade_schema(current_app.config["DATABASE_URL"])
    click.echo("database schema is up to date")


@db_group.command("downgrade", help="Undo migrations down to REVISION (a rollback; back up first).")
@click.argument("revision")
def downgrade_command(revision: str) -> None:
    from alembic import command

    command.downgrade(alembic_config(current_app.config["DATABASE_URL"]), revision)
    click.echo(f"database schema is at {revision}")


@db_group.command("current", help="Show the schema revision the database is at.")
def current_command() -> None:
    from alembic import command

    command.current(alembic_config(current_app.config["DATABASE_URL"]))


@db_group.command("revision", help="Write a new migration from the difference to the models.")
@click.option("-m", "--message", required=True, help="What the migration changes.")
def revision_command(message: str) -> None:
    from alembic import command

    import server.models  # noqa: F401

    command.revision(
        alembic_config(current_app.config["DATABASE_URL"]), message=message, autogenerate=True
    )
