"""A synced fleet without 10,000 first sessions: bench/fleet.py really syncs a sample of the
mailboxes (their first sessions: folders, a full read, two subscriptions with their
validation handshakes) and gives every other mailbox the state such a session leaves.

The sandbox's fleet mailboxes are generated alike (the same message count and seed; folder
ids and delta tokens differ only by the mailbox's number), so mailbox 0's folder states and
delta links, renamed for mailbox k, are exactly what mailbox k's own first session would have
stored. Its two subscriptions are registered in the sandbox in bulk (as POST /subscriptions
makes them once validated), and its last session is put at a random moment of the last safety
interval, as in a fleet that has been running for a while. A first session costs ~3 s of a
worker here, so 10,000 of them would take hours before the measured hour could start.
"""

from __future__ import annotations

import random
from datetime import datetime, timedelta

from sqlalchemy import insert, select

from server.models.sync import GraphSubscription, SyncSession, SyncState
from server.sandbox.fleet import fleet_user
from server.sync.webhooks import LIFECYCLE_PATH, NOTIFY_PATH, REQUESTED_LIFETIME, _apply

CHUNK = 1000
STATE_FIELDS = (
    "folder",
    "folder_id",
    "folder_name",
    "resume_link",
    "initial_done",
    "estimate",
    "window_start",
    "window_end",
    "full_reads",
)


def clone_synced(
    db, sandbox, user_ids: list[int], first: int, base_url: str, interval: timedelta, now
) -> None:
    """Mailboxes `first`.. (by number; user_ids[n] is mailbox n) as if synced like mailbox 0."""
    template = db.scalars(select(SyncState).where(SyncState.user_id == user_ids[0])).all()
    org_id = template[0].org_id
    session = db.scalars(
        select(SyncSession)
        .where(SyncSession.user_id == user_ids[0], SyncSession.status == "succeeded")
        .order_by(SyncSession.id)
        .limit(1)
    ).one()
    rng = random.Random(7)
    for start in range(first, len(user_ids), CHUNK):
        numbers = range(start, min(len(user_ids), start + CHUNK))
        db.execute(
            insert(SyncState),
            [
                {
                    "org_id": org_id,
                    "user_id": user_ids[n],
                    **{f: _renamed(getattr(s, f), n) for f in STATE_FIELDS},
                }
                for n in numbers
                for s in template
            ],
        )
        db.execute(
            insert(SyncSession),
            [_session(session, user_ids[n], now - interval * rng.random()) for n in numbers],
        )
        db.execute(
            insert(GraphSubscription),
            _subscriptions(sandbox, org_id, user_ids, numbers, base_url, now),
        )
        db.commit()


def _renamed(value, number: int):
    """A value of mailbox 0's state as mailbox `number`'s (its object id and folder ids)."""
    if not isinstance(value, str):
        return value
    zero, mine = fleet_user(0).object_id, fleet_user(number).object_id
    return value.replace(zero, mine).replace(f"AAMkF-{zero[-6:]}-", f"AAMkF-{mine[-6:]}-")


def _session(template: SyncSession, user_id: int, finished: datetime) -> dict:
    columns = [c.key for c in SyncSession.__table__.columns if c.key != "id"]
    row = {c: getattr(template, c) for c in columns}
    row.update(user_id=user_id, started_at=finished, heartbeat_at=finished, finished_at=finished)
    return row


def _subscriptions(sandbox, org_id, user_ids, numbers: range, base_url: str, now) -> list[dict]:
    answer = sandbox.control(
        "/_sandbox/graph/fleet/subscriptions",
        {
            "from": numbers.start,
            "to": numbers.stop,
            "notificationUrl": base_url + NOTIFY_PATH,
            "lifecycleNotificationUrl": base_url + LIFECYCLE_PATH,
            "expirationDateTime": (now + REQUESTED_LIFETIME).isoformat(),
        },
    )
    rows = []
    for made in answer["subscriptions"]:
        sub = GraphSubscription(
            org_id=org_id,
            user_id=user_ids[made["number"]],
            resource=made["resource"],
            subscription_id=made["id"],
            client_state=made["clientState"],
            created_at=now,
        )
        _apply(sub, made, now)  # its renewal spread like a subscription a session made
        rows.append(
            {
                c.key: getattr(sub, c.key)
                for c in GraphSubscription.__table__.columns
                if c.key != "id"
            }
        )
    return rows
