"""The shared-mailbox race, used by tests/integration/test_race.py and bench/race.py: two users
whose mailboxes share the same emails are synced at the same moment by two real RQ worker
processes; afterwards every shared email must be in the CRM exactly once, none lost."""

from __future__ import annotations

import time
from collections import Counter
from dataclasses import dataclass

from sqlalchemy import func, select

from server.crm.builtin.models import CrmActivity
from server.models.ledger import LedgerEntry
from server.models.sync import SyncSession
from server.sandbox.directory import DEMO_USERS
from server.sandbox.mailbox import linkable_contacts
from server.sync.jobs import enqueue_session

ALEX, BIANCA = DEMO_USERS[0], DEMO_USERS[1]


@dataclass
class RaceOutcome:
    checked: int
    duplicates: int
    lost: int
    sessions: list[tuple[str, str]]

    def line(self) -> str:
        return f"duplicates: {self.duplicates}  lost: {self.lost}  (checked {self.checked} emails)"


def deliver_shared(sandbox, count: int, tag: str) -> list[str]:
    """`count` emails from known customers, each in both Alex's and Bianca's mailbox."""
    contacts = linkable_contacts()
    keys = []
    for n in range(count):
        key = f"<race-{tag}-{n}@example.test>"
        sender = contacts[n % len(contacts)].emails[0]
        for person in (ALEX, BIANCA):
            sandbox.control(
                f"/_sandbox/graph/users/{person.object_id}/messages",
                {
                    "internetMessageId": key,
                    "from": sender,
                    "to": [ALEX.email, BIANCA.email],
                    "subject": f"Shared {n}",
                },
            )
        keys.append(key)
    return keys


def race(db, users: list, start_worker, env, timeout: float = 600) -> list[tuple[str, str]]:
    """Enqueue every user's session, then start one worker process per user at once; wait
    (failing after `timeout`) until every session has ended. Returns (status, error)s."""
    for user in users:
        assert enqueue_session(user.id, "now") is not None
    workers = [start_worker(env) for _ in users]
    deadline = time.time() + timeout
    try:
        while True:
            db.expire_all()
            rows = list(
                db.scalars(
                    select(SyncSession).where(SyncSession.user_id.in_([u.id for u in users]))
                )
            )
            ended = [r for r in rows if r.status != "running"]
            if len(ended) >= len(users):
                return [(r.status, r.error) for r in rows]
            assert time.time() < deadline, f"sessions did not end: {[r.status for r in rows]}"
            time.sleep(0.2)
    finally:
        for worker in workers:
            worker.kill()
            worker.wait(timeout=30)


def builtin_counts(db, org_id: int, keys: list[str]) -> Counter:
    rows = db.execute(
        select(CrmActivity.key, func.count())
        .where(CrmActivity.org_id == org_id, CrmActivity.key.in_(keys))
        .group_by(CrmActivity.key)
    ).all()
    return Counter(dict(rows))


def salesforce_counts(sandbox, keys: list[str]) -> Counter:
    records = sandbox.control("/_sandbox/salesforce/records?sobject=EmailMessage", method="GET")[
        "records"
    ]
    wanted = set(keys)
    return Counter(r["MessageIdentifier"] for r in records if r["MessageIdentifier"] in wanted)


def outcome(db, org_id: int, keys: list[str], in_crm: Counter, sessions) -> RaceOutcome:
    saved = set(
        db.scalars(
            select(LedgerEntry.item_key).where(
                LedgerEntry.org_id == org_id,
                LedgerEntry.item_key.in_(keys),
                LedgerEntry.status == "saved",
            )
        )
    )
    rows = Counter(
        db.scalars(
            select(LedgerEntry.item_key).where(
                LedgerEntry.org_id == org_id, LedgerEntry.item_key.in_(keys)
            )
        )
    )
    duplicates = sum(max(0, n - 1) for n in in_crm.values()) + sum(
        max(0, n - 1) for n in rows.values()
    )
    lost = sum(1 for key in keys if in_crm[key] == 0 or key not in saved)
    return RaceOutcome(len(keys), duplicates, lost, sessions)
