"""Many mailboxes in the database at once (no sign-in): users with a Microsoft connection
and a schedule row, and session records; for scheduler and health tests at scale."""

from __future__ import annotations

from contextlib import contextmanager
from datetime import datetime, timedelta

from sqlalchemy import event, func, select

from server.db import get_engine
from server.models.connections import MicrosoftConnection
from server.models.schedule import SyncSchedule
from server.models.sync import GraphSubscription, SyncSession, SyncState
from server.models.tenancy import Organisation, User
from server.sync.webhooks import resources_for


def make_org(db, tenant: str = "fleet-tenant") -> Organisation:
    org = Organisation(tenant_id=tenant, name="Fleet")
    db.add(org)
    db.flush()
    return org


def make_mailboxes(db, org: Organisation, count: int, due_at: datetime) -> list[User]:
    first = db.scalar(select(func.count(User.id))) or 0
    users = [
        User(org_id=org.id, tenant_id=org.tenant_id, object_id=f"fleet-{i}", email=f"u{i}@f.test")
        for i in range(first, first + count)
    ]
    db.add_all(users)
    db.flush()
    db.add_all(MicrosoftConnection(org_id=org.id, user_id=u.id) for u in users)
    db.add_all(SyncSchedule(org_id=org.id, user_id=u.id, due_at=due_at) for u in users)
    db.commit()
    return users


def add_session(db, user: User, finished: datetime, status: str = "succeeded") -> SyncSession:
    session = SyncSession(
        org_id=user.org_id,
        user_id=user.id,
        status=status,
        started_at=finished - timedelta(seconds=2),
        heartbeat_at=finished,
        finished_at=finished,
    )
    db.add(session)
    return session


def add_states(db, user: User) -> None:
    for folder in ("inbox", "sentitems", "calendar"):
        db.add(SyncState(org_id=user.org_id, user_id=user.id, folder=folder, initial_done=True))


def subscribe(db, user: User, expires: datetime, renew: datetime) -> None:
    for resource in resources_for(user):
        db.add(
            GraphSubscription(
                org_id=user.org_id,
                user_id=user.id,
                resource=resource,
                subscription_id=f"sub-{user.id}-{len(resource)}",
                client_state=f"state-{user.id}",
                expires_at=expires,
                renew_at=renew,
            )
        )


@contextmanager
def counted_statements():
    """Counts the SQL statements run inside the block (a list: read its length)."""
    seen: list[str] = []
    engine = get_engine()

    def count(conn, cursor, statement, parameters, context, executemany):
        seen.append(statement)

    event.listen(engine, "before_cursor_execute", count)
    try:
        yield seen
    finally:
        event.remove(engine, "before_cursor_execute", count)
