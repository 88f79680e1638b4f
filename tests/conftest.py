"""Shared fixtures: a real Redis server, a fresh database per test (SQLite always, PostgreSQL
too when TEST_DATABASE_URL is set), the app, its client, and RQ jobs run in burst mode."""

from __future__ import annotations

import functools
import os
import shutil
import tempfile
from pathlib import Path

import pytest
from redis import Redis
from sqlalchemy import create_engine, make_url, text

from server import create_app
from server.db import Base, get_session
from server.redis_server import start_redis_server

BACKENDS = ["sqlite", "postgresql"]

# Fixture modules shared by many tests (additive: one line each).
pytest_plugins = ["tests.sandbox_fixtures"]


@pytest.fixture(scope="session")
def redis_url():
    """A real Redis server for the whole run, on a free port, keeping nothing on disk."""
    workdir = Path(tempfile.mkdtemp(prefix="courier-redis-"))
    proc, url = start_redis_server(workdir)
    yield url
    proc.terminate()
    proc.wait(timeout=10)
    shutil.rmtree(workdir, ignore_errors=True)


@pytest.fixture
def redis_client(redis_url):
    from server.metrics import flush_all

    # Request counts an earlier test's app still holds in memory go in first, then are wiped.
    flush_all()
    client = Redis.from_url(redis_url)
    client.flushall()
    yield client
    client.close()


@functools.lru_cache(maxsize=1)
def _postgres_url() -> str | None:
    """TEST_DATABASE_URL; under pytest-xdist each worker gets its own database beside it
    (`<name>_gw0`, ...), created on first use, so parallel workers never share tables."""
    url = os.environ.get("TEST_DATABASE_URL") or None
    worker = os.environ.get("PYTEST_XDIST_WORKER")
    if url is None or not worker:
        return url
    base = make_url(url)
    worker_url = base.set(database=f"{base.database}_{worker}")
    admin = create_engine(base, isolation_level="AUTOCOMMIT")
    try:
        with admin.connect() as conn:
            exists = conn.execute(
                text("SELECT 1 FROM pg_database WHERE datname = :n"),
                {"n": worker_url.database},
            ).scalar()
            if not exists:
                conn.execute(text(f'CREATE DATABASE "{worker_url.database}"'))
    finally:
        admin.dispose()
    return worker_url.render_as_string(hide_password=False)


def postgres_url_or_skip() -> str:
    url = _postgres_url()
    if url is None:
        if os.environ.get("REQUIRE_POSTGRES") == "1":
            pytest.fail("REQUIRE_POSTGRES=1 but TEST_DATABASE_URL is not set")
        pytest.skip("PostgreSQL tests need TEST_DATABASE_URL")
    return url


@pytest.fixture(scope="session")
def postgres_engine():
    url = postgres_url_or_skip()
    import server.models  # noqa: F401

    engine = create_engine(url)
    Base.metadata.drop_all(engine)
    Base.metadata.create_all(engine)
    yield engine
    engine.dispose()


def _truncate_all(engine) -> None:
    """Empties what the last test wrote. TRUNCATE costs a new file per table whatever it holds
    (~30 ms for all 34 tables here, once per PostgreSQL test), so only the tables holding rows
    are truncated, and only the sequences that were used are restarted: ids start at 1 again."""
    tables = Base.metadata.sorted_tables
    holding_rows = " UNION ALL ".join(
        f"SELECT '{t.name}' WHERE EXISTS (SELECT 1 FROM \"{t.name}\")" for t in tables
    )
    with engine.begin() as conn:
        used = conn.execute(text(holding_rows)).scalars().all()
        if used:
            names = ", ".join(f'"{name}"' for name in used)
            conn.execute(text(f"TRUNCATE {names} CASCADE"))
        # pg_sequences.last_value is NULL until nextval is called, and again after a restart.
        sequences = conn.execute(
            text("SELECT schemaname, sequencename FROM pg_sequences WHERE last_value IS NOT NULL")
        ).all()
        for schema, name in sequences:
            conn.execute(text(f'ALTER SEQUENCE "{schema}"."{name}" RESTART'))


@pytest.fixture(scope="session")
def sqlite_template(tmp_path_factory) -> Path:
    """An empty SQLite database with the current schema, made once per test process: creating
    the schema commits (and syncs to disk) each of its ~100 statements, ~0.5 s; a copy of the
    file is the same database in under a millisecond."""
    import server.models  # noqa: F401

    path = tmp_path_factory.mktemp("sqlite-template") / "courier.db"
    engine = create_engine(f"sqlite:///{path}")
    Base.metadata.create_all(engine)
    engine.dispose()
    return path


def _fresh_sqlite_url(template: Path, tmp_path: Path) -> str:
    path = tmp_path / "courier.db"
    shutil.copyfile(template, path)
    return f"sqlite:///{path}"


@pytest.fixture(params=BACKENDS)
def database_url(request, tmp_path):
    """A fresh, empty database with the current schema."""
    if request.param == "sqlite":
        return _fresh_sqlite_url(request.getfixturevalue("sqlite_template"), tmp_path)
    engine = request.getfixturevalue("postgres_engine")
    _truncate_all(engine)
    return _postgres_url()


@pytest.fixture
def sqlite_url(sqlite_template, tmp_path):
    """For tests that need a database but test nothing backend-specific (browser, sandbox)."""
    return _fresh_sqlite_url(sqlite_template, tmp_path)


def make_test_app(database_url: str, redis_url: str, **overrides):
    config = {
        "ENV": "test",
        "DATABASE_URL": database_url,
        "REDIS_URL": redis_url,
        "SECRET_KEY": "test-secret",
        **overrides,
    }
    return create_app(config)


@pytest.fixture
def app_config() -> dict:
    """Override per test module to add settings (e.g. the sandbox's URLs)."""
    return {}


@pytest.fixture
def app(database_url, redis_client, redis_url, app_config):
    app = make_test_app(database_url, redis_url, **app_config)
    with app.app_context():
        yield app
        get_session().close()
    app.extensions["db_engine"].dispose()


@pytest.fixture
def client(app):
    return app.test_client()


@pytest.fixture
def db(app):
    return get_session()


@pytest.fixture
def run_jobs(app, redis_client):
    """Run every queued job (and what they enqueue) with RQ's SimpleWorker in burst mode;
    returns how many jobs ran."""
    from server.periodic import CourierSimpleWorker
    from server.queues import all_queues

    class CountingWorker(CourierSimpleWorker):
        performed = 0

        def perform_job(self, job, queue):
            self.performed += 1
            return super().perform_job(job, queue)

    def run() -> int:
        worker = CountingWorker(all_queues(), connection=redis_client)
        worker.work(burst=True)
        return worker.performed

    return run


@pytest.fixture(scope="session")
def artifacts_dir() -> Path:
    path = Path(__file__).resolve().parent.parent / "artifacts"
    path.mkdir(exist_ok=True)
    return path
