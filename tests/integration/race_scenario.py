"""The shared-mailbox race, used by tests/integration/test_race.py and bench/race.py: two users
whose mailboxes share the same emails and meetings are synced at the same moment by two real
RQ worker processes; afterwards every shared email and meeting must be in the CRM exactly
once, none lost."""

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
    meetings: int = 0  # of `checked`

    def line(self) -> str:
        return (
            f"duplicates: {self.duplicates}  lost: {self.lost}  (checked "
            f"{self.checked - self.meetings} emails and {self.meetings} meetings)"
        )


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


def deliver_shared_meetings(sandbox, count: int, tag: str) -> list[str]:
    """`count` meetings with known customers, each in both Alex's and Bianca's calendar (one
    iCalUId: one meeting for the organisation). Returns their keys (the iCalUIds)."""
    contacts = linkable_contacts()
    keys = []
    for n in range(count):
        uid = f"040000008200E00074C5B7101A82E008-race-{tag}-{n}"
        customer = contacts[(n * 7) % len(contacts)].emails[0]
        for person in (ALEX, BIANCA):
            sandbox.control(
                f"/_sandbox/graph/users/{person.object_id}/events",
                {
                    "iCalUId": uid,
                    "subject": f"Shared meeting {n}",
                    "organizer": ALEX.email,
                    "attendees": [BIANCA.email, customer],
                    "hoursFromNow": 24 + n,
                },
            )
        keys.append(uid)
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


def salesforce_counts(sandbox, keys: list[str], meetings: list[str] = ()) -> Counter:
    """How often each key is in the sandbox Salesforce: emails by MessageIdentifier (set in
    both key modes), meetings (Events) by the Courier_Key__c external id."""
    out = Counter()
    for sobject, field, wanted in (
        ("EmailMessage", "MessageIdentifier", set(keys)),
        ("Event", "Courier_Key__c", set(meetings)),
    ):
        if not wanted:
            continue
        records = sandbox.control(f"/_sandbox/salesforce/records?sobject={sobject}", method="GET")
        out.update(r[field] for r in records["records"] if r.get(field) in wanted)
    return out


def outcome(
    db, org_id: int, keys: list[str], in_crm: Counter, sessions, meetings: list[str] = ()
) -> RaceOutcome:
    """Duplicates and losses among the emails `keys` and the meetings `meetings`."""
    keys = [*keys, *meetings]
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
    return RaceOutcome(len(keys), duplicates, lost, sessions, len(meetings))
