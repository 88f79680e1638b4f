"""Benchmark: the shared-mailbox race, run N times. Two users whose mailboxes share the same
emails and meetings are synced at the same moment by two real RQ worker processes; after each
run every shared email and meeting must be in the CRM exactly once, with one saved ledger row.

Prints, per run and in total, `duplicates: D  lost: L` with the numbers of emails and
meetings checked. Exit status 1 when any run has a duplicate or a lost item.

    .venv/bin/python bench/race.py [--runs 20] [--emails 200] [--meetings 50]
        [--crm builtin|salesforce-external-id|salesforce-message-identifier]
        [--database-url postgresql+psycopg://...]

Runs on SQLite in a temporary directory (or the given PostgreSQL database, whose tables are
dropped and created anew for every run), with its own Redis server and sandbox.
"""

from __future__ import annotations

import argparse
import logging
import shutil
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from redis import Redis  # noqa: E402
from sqlalchemy import create_engine  # noqa: E402

import server.models  # noqa: E402, F401  (every table registered)
from bench.sync import Sandbox  # noqa: E402
from server import create_app  # noqa: E402
from server.crm.salesforce.tokens import store_connection  # noqa: E402
from server.db import Base, get_session  # noqa: E402
from server.redis_server import start_redis_server  # noqa: E402
from tests.integration.race_scenario import (  # noqa: E402
    ALEX,
    BIANCA,
    builtin_counts,
    deliver_shared,
    deliver_shared_meetings,
    outcome,
    race,
    salesforce_counts,
)
from tests.integration.sync_helpers import configure_mailboxes, signed_in_user  # noqa: E402
from tests.integration.worker_processes import start_worker  # noqa: E402

CRMS = {
    "builtin": {"CRM_ADAPTER": "builtin"},
    "salesforce-external-id": {"CRM_ADAPTER": "salesforce"},
    "salesforce-message-identifier": {
        "CRM_ADAPTER": "salesforce",
        "SALESFORCE_EMAIL_KEY_FIELD": "MessageIdentifier",
    },
}
SALESFORCE_SCHEMA = {
    "SALESFORCE_CONTACT_EMAIL_FIELDS": "Email,Alternate_Email__c,Other_Email__c",
    "SALESFORCE_ACCOUNT_DOMAIN_FIELDS": "Website,Other_Domains__c",
    "SALESFORCE_RETRY_BASE_MS": "10",
}


def fresh_database(url: str) -> None:
    engine = create_engine(url)
    Base.metadata.drop_all(engine)
    Base.metadata.create_all(engine)
    engine.dispose()


def one_run(n: int, args, sandbox: Sandbox, redis_url: str, workdir: Path):
    db_url = args.database_url or f"sqlite:///{workdir / f'race-{n}.db'}"
    fresh_database(db_url)
    Redis.from_url(redis_url).flushall()
    settings = {
        "ENV": "test",
        "DATABASE_URL": db_url,
        "REDIS_URL": redis_url,
        "SECRET_KEY": "bench-secret",
        "GRAPH_BASE_URL": f"{sandbox.url}/graph/v1.0",
        "MS_AUTHORITY_HOST": sandbox.url,
        "SALESFORCE_LOGIN_URL": f"{sandbox.url}/salesforce",
        "CA_BUNDLE": sandbox.ca_bundle,
        "GRAPH_BACKOFF_BASE_MS": "5",
        "INSTANCE_PATH": str(workdir / f"instance-{n}"),
        **SALESFORCE_SCHEMA,
        **CRMS[args.crm],
    }
    sandbox.control("/_sandbox/reset")
    sandbox.control("/_sandbox/salesforce/reset", {"seed_demo": True})
    configure_mailboxes(sandbox, messages=0, events=0, seed=n)
    app = create_app(
        {
            k: (tuple(v.split(",")) if k.endswith("_FIELDS") else v)
            for k, v in settings.items()
            if k not in ("GRAPH_BACKOFF_BASE_MS", "SALESFORCE_RETRY_BASE_MS")
        }
    )
    env = {**settings, "PYTHONPATH": str(ROOT)}
    (workdir / f"instance-{n}").mkdir(exist_ok=True)
    with app.app_context():
        db = get_session()
        client = app.test_client()
        users = []
        for person in (ALEX, BIANCA):
            user = signed_in_user(client, sandbox, db, person)
            client.get("/auth/signout")
            if args.crm != "builtin":
                grant = sandbox.control("/_sandbox/salesforce/grants", {"username": person.email})
                store_connection(user, grant, person.email)
            users.append(user)
        keys = deliver_shared(sandbox, args.emails, f"run{n}")
        meetings = deliver_shared_meetings(sandbox, args.meetings, f"run{n}")
        started = time.perf_counter()
        sessions = race(db, users, lambda e: start_worker(e), {**env, **_os_env()})
        seconds = time.perf_counter() - started
        org_id = users[0].org_id
        in_crm = (
            builtin_counts(db, org_id, [*keys, *meetings])
            if args.crm == "builtin"
            else salesforce_counts(sandbox, keys, meetings)
        )
        result = outcome(db, org_id, keys, in_crm, sessions, meetings)
        db.close()
    app.extensions["db_engine"].dispose()
    return result, seconds


def _load() -> str:
    import os

    return " ".join(f"{x:.2f}" for x in os.getloadavg())


def _os_env() -> dict[str, str]:
    import os

    return {k: v for k, v in os.environ.items() if not k.startswith(("GRAPH_", "SYNC_"))}


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--runs", type=int, default=20)
    parser.add_argument("--emails", type=int, default=200)
    parser.add_argument("--meetings", type=int, default=50)
    parser.add_argument("--crm", choices=sorted(CRMS), default="builtin")
    parser.add_argument("--database-url", default="")
    args = parser.parse_args()
    logging.getLogger("werkzeug").setLevel(logging.WARNING)  # the sandbox's request log
    workdir = Path(tempfile.mkdtemp(prefix="courier-race-"))
    redis_proc, redis_url = start_redis_server(workdir / "redis")
    sandbox = Sandbox(workdir)
    duplicates = lost = checked = meetings = 0
    try:
        for n in range(args.runs):
            result, seconds = one_run(n, args, sandbox, redis_url, workdir)
            statuses = ",".join(status for status, _ in result.sessions)
            print(
                f"run {n + 1}/{args.runs}: {result.line()}  sessions: {statuses}  {seconds:.1f} s"
            )
            duplicates, lost = duplicates + result.duplicates, lost + result.lost
            checked += result.checked
            meetings += result.meetings
    finally:
        redis_proc.terminate()
        sandbox.server.shutdown()
        shutil.rmtree(workdir, ignore_errors=True)
    print(
        f"{args.crm}, {args.runs} runs of {args.emails} shared emails and {args.meetings} "
        f"shared meetings, two workers (load average {_load()}):"
    )
    print(
        f"duplicates: {duplicates}  lost: {lost}  "
        f"(checked {checked - meetings} emails and {meetings} meetings)"
    )
    return 0 if duplicates == 0 and lost == 0 else 1


if __name__ == "__main__":
    sys.exit(main())
