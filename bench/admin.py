"""Benchmark: the admin console's Users page for an organisation of 10,000 people.

Seeds 10,000 people (three in four signed in, each with a Microsoft connection, sync
sessions, sync state and a saved item; the rest only in the directory) into a temporary
SQLite database (or the PostgreSQL database given by --database-url), then measures the
server time of GET /admin/users for every sort (both ways) and every kind of filter and
search (state, role, allowed, text, combined) through the real app, signed in as an admin
with a cookie session.

Prints, per combination, p50/p95, the ratio to a trivial page (GET /healthz) measured in the
same run, and the SQL statements the page runs at 1,000 and at 10,000 people (target: the
same number), with the load average.
Target: p95 <= 250 ms. Exit status 1 when a target is missed.

    .venv/bin/python bench/admin.py [--people 10000] [--runs 60] [--database-url ...]
"""

from __future__ import annotations

import argparse
import os
import shutil
import statistics
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from sqlalchemy import create_engine, event, text  # noqa: E402

import server.models  # noqa: E402, F401  (every table registered)
from bench.admin_data import add_people  # noqa: E402
from server import create_app  # noqa: E402
from server.admin.people import SORTABLE  # noqa: E402
from server.auth.decorators import COOKIE_TOKEN_KEY  # noqa: E402
from server.auth.sessions import issue_session  # noqa: E402
from server.db import Base, get_engine, get_session  # noqa: E402
from server.models.tenancy import Organisation, User  # noqa: E402
from server.redis_server import start_redis_server  # noqa: E402

P95_TARGET_MS = 250.0
TENANT = "11111111-2222-4333-8444-555555555555"
SORTS = SORTABLE
FILTERS = (
    "",
    "q=person0",
    "state=up_to_date",
    "state=stalled",
    "state=needs_reauth",
    "state=not_started",
    "role=user",
    "allowed=no",
    "scope=in",
    "scope=out",
    "q=person0&state=delayed",
)


def combinations() -> list[str]:
    """Every sort both ways with no filter, and every filter with the default sort and with
    the costliest sorts (state, saved): the users page's whole query space, in kind."""
    pages = [f"/admin/users?sort={s}&dir={d}" for s in SORTS for d in ("asc", "desc")]
    for flt in FILTERS[1:]:
        pages += [f"/admin/users?{flt}&sort={s}&dir=desc" for s in ("name", "state", "saved")]
    pages.append("/admin/users?q=person0&sort=email&dir=desc&page=3&per_page=25")
    return pages


def percentile(samples: list[float], fraction: float) -> float:
    ordered = sorted(samples)
    return ordered[min(len(ordered) - 1, round(fraction * (len(ordered) - 1)))]


def count_statements(client, url: str) -> int:
    statements: list[str] = []

    def count(_conn, _cursor, statement, *_args):
        statements.append(statement)

    engine = get_engine()
    event.listen(engine, "before_cursor_execute", count)
    try:
        assert client.get(url).status_code == 200
    finally:
        event.remove(engine, "before_cursor_execute", count)
    return len(statements)


def timed(client, url: str, runs: int) -> list[float]:
    for _ in range(5):
        client.get(url)
    samples = []
    for _ in range(runs):
        started = time.perf_counter()
        answer = client.get(url)
        samples.append((time.perf_counter() - started) * 1000)
        assert answer.status_code == 200, answer.status_code
    return samples


def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("--people", type=int, default=10_000)
    parser.add_argument("--runs", type=int, default=30)
    parser.add_argument("--database-url", default="")
    parser.add_argument("--only", default="", help="run the combinations containing this")
    args = parser.parse_args()
    workdir = Path(tempfile.mkdtemp(prefix="courier-bench-admin-"))
    redis_proc, redis_url = start_redis_server(workdir / "redis")
    url = args.database_url or f"sqlite:///{workdir / 'bench.db'}"
    engine = create_engine(url)
    Base.metadata.drop_all(engine)
    Base.metadata.create_all(engine)
    engine.dispose()
    app = create_app(
        {"ENV": "test", "DATABASE_URL": url, "REDIS_URL": redis_url, "SECRET_KEY": "bench"}
    )
    ok = True
    try:
        with app.app_context():
            db = get_session()
            org = Organisation(tenant_id=TENANT, name="bench.test")
            db.add(org)
            db.flush()
            admin = User(
                org_id=org.id,
                tenant_id=TENANT,
                object_id="0" * 8 + "-0000-4000-8000-" + "0" * 12,
                email="admin@bench.test",
                display_name="Admin",
                aliases=[],
                role="admin",
                admin_by_grant=True,
            )
            db.add(admin)
            db.commit()
            client = app.test_client()
            with client.session_transaction() as session:
                session[COOKIE_TOKEN_KEY] = issue_session(admin)
            small = min(1000, args.people)
            pages = [p for p in combinations() if args.only in p]
            add_people(db, org, small)
            queries_small = {page: count_statements(client, page) for page in pages}
            started = time.perf_counter()
            add_people(db, org, args.people - small, start=small)
            seeded = time.perf_counter() - started
            if url.startswith("postgresql"):
                db.execute(text("ANALYZE"))
                db.commit()
            baseline = timed(client, "/healthz", args.runs)
            base50 = statistics.median(baseline)
            print(f"== admin users page, {args.people:,} people ({url.split(':')[0]}) ==")
            print(f"load average {' '.join(f'{x:.2f}' for x in os.getloadavg())}")
            print(f"seeded {args.people - small:,} more people in {seeded:.1f} s")
            print(f"GET /healthz p50 {base50:.2f} ms (baseline)")
            print(
                f"{'page':<72} {'p50':>7} {'p95':>7} {'ratio':>6} SQL@{small:,} SQL@{args.people:,}"
            )
            worst = 0.0
            for page in pages:
                queries_large = count_statements(client, page)
                samples = timed(client, page, args.runs)
                p50, p95 = statistics.median(samples), percentile(samples, 0.95)
                worst = max(worst, p95)
                same = queries_small[page] == queries_large
                print(
                    f"{page[len('/admin/users') :] or '(default)':<72} {p50:7.1f} {p95:7.1f} "
                    f"{p50 / base50:5.0f}x {queries_small[page]:>5} {queries_large:>6}"
                    + ("" if same else "  QUERY COUNT GREW")
                )
                ok &= same and p95 <= P95_TARGET_MS
            print(f"worst p95 {worst:.1f} ms (target p95 <= {P95_TARGET_MS:.0f} ms)")
            print(f"load average {' '.join(f'{x:.2f}' for x in os.getloadavg())}")
            get_session().close()
    finally:
        app.extensions["db_engine"].dispose()
        redis_proc.terminate()
        redis_proc.wait(timeout=10)
        shutil.rmtree(workdir, ignore_errors=True)
    print("targets met" if ok else "TARGET MISSED")
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
