"""Benchmark: syncing the demo mailbox into the sandbox's Salesforce through the REAL pipeline.

Starts a Redis server, the sandbox (HTTPS, development CA) in a thread and the Courier app on a
temporary SQLite database; signs the demo user in through the sandbox's Microsoft, connects
their Salesforce, injects --latency-ms (80) into every Salesforce call, and runs one sync
session (server.sync.session.run_session, the worker's job) over a --messages mailbox.
Prints, as the sandbox's counter sees them (lookups, writes, retries, everything):

- Salesforce API calls per 1,000 saved emails (target <= 20, against ~3,000 for one call per
  write with its lookups),
- calls by kind, wall time of the session, and the end state check (every labelled item saved
  exactly once).

    .venv/bin/python bench/salesforce.py [--messages 20000] [--key-field Courier_Key__c]
                                         [--page-size 100] [--latency-ms 80]
(--key-field MessageIdentifier: no custom field, one look-up call more per batch.)
Exit status 1 when the end state is wrong or the target is missed.
"""

from __future__ import annotations

import argparse
import shutil
import sys
import tempfile
import threading
import time
from collections import Counter
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from sqlalchemy import create_engine  # noqa: E402
from werkzeug.serving import make_server  # noqa: E402

import server.models  # noqa: E402, F401
from server import create_app  # noqa: E402
from server.crm.salesforce.tokens import store_connection  # noqa: E402
from server.db import Base  # noqa: E402
from server.http import make_http_session  # noqa: E402
from server.redis_server import start_redis_server  # noqa: E402
from server.sandbox.app import create_sandbox_app  # noqa: E402
from server.sandbox.devca import ensure_dev_ca, ssl_context_for  # noqa: E402
from server.sandbox.directory import DEMO_USERS  # noqa: E402

TARGET_PER_1000 = 20
ALEX = DEMO_USERS[0]


class Sandbox:
    """What tests/sandbox_fixtures.py gives tests, for a script."""

    def __init__(self, workdir: Path):
        paths = ensure_dev_ca(workdir / "devca")
        self.app = create_sandbox_app()
        self.server = make_server(
            "127.0.0.1", 0, self.app, threaded=True, ssl_context=ssl_context_for(paths)
        )
        threading.Thread(target=self.server.serve_forever, daemon=True).start()
        self.url = f"https://127.0.0.1:{self.server.server_port}"
        self.ca_bundle = str(paths.ca_cert)
        self.http = make_http_session(ca_bundle=self.ca_bundle, timeout=300)

    def settings(self) -> dict:
        return {
            "MS_AUTHORITY_HOST": self.url,
            "GRAPH_BASE_URL": f"{self.url}/graph/v1.0",
            "SALESFORCE_LOGIN_URL": f"{self.url}/salesforce",
            "CA_BUNDLE": self.ca_bundle,
            "SANDBOX_ENABLED": True,
        }

    def control(self, path: str, json: dict | None = None, method: str = "POST"):
        answer = self.http.request(method, f"{self.url}{path}", json=json or {})
        answer.raise_for_status()
        return answer.json()


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--messages", type=int, default=20_000)
    parser.add_argument("--events", type=int, default=200)
    parser.add_argument("--latency-ms", type=int, default=80)
    parser.add_argument("--key-field", default="Courier_Key__c")
    parser.add_argument(
        "--page-size", type=int, default=100, help="GRAPH_PAGE_SIZE (messages per page)"
    )
    args = parser.parse_args()

    workdir = Path(tempfile.mkdtemp(prefix="courier-bench-sf-"))
    redis_proc, redis_url = start_redis_server(workdir / "redis")
    try:
        sandbox = Sandbox(workdir)
        database_url = f"sqlite:///{workdir / 'courier.db'}"
        engine = create_engine(database_url)
        Base.metadata.create_all(engine)
        engine.dispose()
        app = create_app(
            {
                "ENV": "test",
                "DATABASE_URL": database_url,
                "REDIS_URL": redis_url,
                "SECRET_KEY": "bench",
                **sandbox.settings(),
                "CRM_ADAPTER": "salesforce",
                "GRAPH_PAGE_SIZE": args.page_size,
                "SALESFORCE_CONTACT_EMAIL_FIELDS": (
                    "Email",
                    "Alternate_Email__c",
                    "Other_Email__c",
                ),
                "SALESFORCE_ACCOUNT_DOMAIN_FIELDS": ("Website", "Other_Domains__c"),
                "SALESFORCE_EMAIL_KEY_FIELD": args.key_field,
                "SYNC_JOB_TIMEOUT_SECONDS": 36_000,
            }
        )
        return run(app, sandbox, args)
    finally:
        redis_proc.terminate()
        redis_proc.wait(timeout=10)
        shutil.rmtree(workdir, ignore_errors=True)


def run(app, sandbox: Sandbox, args) -> int:
    from server.db import get_session
    from server.sync.session import run_session
    from tests.integration.sync_helpers import expected_from, labels_of, signed_in_user

    sandbox.control(
        "/_sandbox/graph/configure", {"messages": args.messages, "events": args.events, "seed": 11}
    )
    with app.app_context():
        db = get_session()
        user = signed_in_user(app.test_client(), sandbox, db, ALEX)
        grant = sandbox.control("/_sandbox/salesforce/grants", {"username": ALEX.email})
        store_connection(user, grant, ALEX.email)
        sandbox.control("/_sandbox/salesforce/faults", {"latency_ms": args.latency_ms})
        sandbox.control("/_sandbox/salesforce/stats/reset")
        started = time.perf_counter()
        summary = run_session(user.id, "now")
        wall = time.perf_counter() - started
    stats = sandbox.control("/_sandbox/salesforce/stats", method="GET")
    emails = sandbox.control("/_sandbox/salesforce/records?sobject=EmailMessage", method="GET")[
        "records"
    ]
    events = sandbox.control("/_sandbox/salesforce/records?sobject=Event", method="GET")["records"]
    expected = expected_from(labels_of(sandbox, ALEX))
    keys = Counter(e["MessageIdentifier"] for e in emails)
    exact = (
        set(keys) == set(expected.emails)
        and max(keys.values(), default=1) == 1
        and {e["Courier_Key__c"] for e in events} == set(expected.meetings)
    )
    calls = stats["api_calls"]
    per_1000 = calls / max(1, len(emails)) * 1000
    print(
        f"session: {summary['status']} ({summary.get('error') or 'no error'}), "
        f"{summary.get('read')} items read, {summary.get('saved')} saved"
    )
    print(
        f"mailbox: {args.messages} messages, {args.events} events; "
        f"Graph page size {args.page_size}; "
        f"email key field {args.key_field}"
    )
    print(
        f"saved to Salesforce: {len(emails)} emails, {len(events)} meetings; "
        f"end state exact and without duplicates: {exact}"
    )
    print(f"Salesforce API calls: {calls} ({dict(sorted(stats['calls_by_kind'].items()))})")
    print(
        f"API calls per 1,000 saved emails: {per_1000:.1f} (target <= {TARGET_PER_1000}; "
        f"one call per write would be ~3,000)"
    )
    print(
        f"wall time with {args.latency_ms} ms per Salesforce call: {wall:.1f} s "
        f"({calls * args.latency_ms / 1000:.1f} s of it injected latency)"
    )
    return 0 if exact and summary["status"] == "succeeded" and per_1000 <= TARGET_PER_1000 else 1


if __name__ == "__main__":
    sys.exit(main())
