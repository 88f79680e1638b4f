"""The scheduler costs what is due: a tick reads only the mailboxes whose schedule row is
due, in the same number of queries however many exist; health for a page of users in a
fixed number of queries; the safety poll for mailboxes with live subscriptions and the
normal interval for the others."""

from __future__ import annotations

from datetime import timedelta

import pytest
from sqlalchemy import event, select

from server.db import utcnow
from server.models.schedule import SyncSchedule
from server.sync.health import health_for_users
from server.sync.scheduler import RECENT, due_user_ids
from tests.integration.fleet_helpers import (
    add_session,
    add_states,
    counted_statements,
    make_mailboxes,
    make_org,
    subscribe,
)


def _due_times(db) -> dict[int, object]:
    db.expire_all()
    return {row.user_id: row.due_at for row in db.scalars(select(SyncSchedule))}


def test_a_tick_takes_only_due_mailboxes_and_moves_them_to_their_next_look(app, db):
    now = utcnow()
    org = make_org(db)
    due = make_mailboxes(db, org, 10, now - timedelta(minutes=1))
    later = make_mailboxes(db, org, 20, now + timedelta(minutes=30))
    before = _due_times(db)
    assert sorted(due_user_ids(now)) == sorted(u.id for u in due)
    after = _due_times(db)
    interval = timedelta(minutes=app.config["SYNC_INTERVAL_MINUTES"])
    for user in due:  # next look on the mailbox's phase, half to one and a half intervals on
        assert now + interval / 2 <= after[user.id] < now + interval * 1.5
    assert {u.id: after[u.id] for u in later} == {u.id: before[u.id] for u in later}
    assert due_user_ids(now) == []


def test_a_tick_costs_the_same_queries_whatever_the_number_of_mailboxes(app, db):
    now = utcnow()
    org = make_org(db)
    make_mailboxes(db, org, 3, now - timedelta(minutes=1))
    with counted_statements() as few:
        assert len(due_user_ids(now)) == 3
    make_mailboxes(db, org, 300, now + timedelta(minutes=30))  # not due: never read
    make_mailboxes(db, org, 60, now - timedelta(minutes=1))
    with counted_statements() as many:
        assert len(due_user_ids(now)) == 60
    assert len(many) == len(few), (few, many)


def test_a_tick_loads_a_few_sessions_per_mailbox_however_busy_it_was(app, db):
    """A mailbox whose notifications started dozens of sessions within the back-off's history
    costs the tick its last RECENT sessions, not all of them; the decision is the same. The
    rows the database answered are counted by running the tick's own reads again."""
    now = utcnow()
    org = make_org(db)
    quiet, busy = make_mailboxes(db, org, 2, now - timedelta(minutes=1))
    add_session(db, quiet, now - timedelta(hours=1))
    for minutes in range(61, 61 + 5 * 40, 5):  # 40 sessions over the last hours
        add_session(db, busy, now - timedelta(minutes=minutes))
    add_session(db, busy, now - timedelta(minutes=5), status="failed")
    db.commit()
    reads: list[tuple] = []

    def keep(conn, cursor, statement, parameters, context, executemany):
        if statement.lstrip().upper().startswith("SELECT") and "sync_sessions" in statement:
            reads.append((statement, parameters))

    engine = db.get_bind()
    event.listen(engine, "before_cursor_execute", keep)
    try:
        # The busy one failed 5 minutes ago and waits its interval: only the quiet one is
        # due, as it would be with every session read.
        assert due_user_ids(now) == [quiet.id]
    finally:
        event.remove(engine, "before_cursor_execute", keep)
    assert reads
    answered: list[int] = []
    for statement, parameters in reads:  # each row starts with its user
        answered += [row[0] for row in db.connection().exec_driver_sql(statement, parameters)]
    db.rollback()
    assert answered.count(busy.id) == RECENT
    assert answered.count(quiet.id) == 1


def test_a_synced_mailbox_is_not_due_again_before_its_interval(app, db):
    now = utcnow()
    org = make_org(db)
    fresh, stale = make_mailboxes(db, org, 2, now - timedelta(minutes=1))
    add_session(db, fresh, now - timedelta(minutes=1))
    add_session(db, stale, now - timedelta(hours=1))
    db.commit()
    assert due_user_ids(now) == [stale.id]
    # The fresh one is looked at again when its session is due, not every tick.
    assert _due_times(db)[fresh.id] >= now + timedelta(minutes=4)


def test_a_running_session_or_a_disabled_user_is_not_read_every_tick(app, db):
    now = utcnow()
    org = make_org(db)
    running, disabled = make_mailboxes(db, org, 2, now - timedelta(minutes=1))
    add_session(db, running, now, status="running").finished_at = None
    disabled.sync_enabled = False
    db.commit()
    assert due_user_ids(now) == []
    interval = timedelta(minutes=app.config["SYNC_INTERVAL_MINUTES"])
    assert all(when >= now + interval for when in _due_times(db).values())


def test_health_for_a_page_of_users_costs_a_fixed_number_of_queries(app, db):
    now = utcnow()
    org = make_org(db)

    def page(count: int) -> list:
        users = make_mailboxes(db, org, count, now)
        for i, user in enumerate(users):
            add_states(db, user)
            add_session(db, user, now - timedelta(minutes=3 + i % 7))
            add_session(db, user, now - timedelta(minutes=20), status="failed")
        db.commit()
        return users

    small, large = page(3), page(60)
    with counted_statements() as few:
        health = health_for_users(small)
    with counted_statements() as many:
        health_large = health_for_users(large)
    assert len(many) == len(few) <= 6, many
    assert {h["state"] for h in [*health.values(), *health_large.values()]} == {"up_to_date"}


def test_health_of_a_page_says_each_users_own_state(app, db):
    now = utcnow()
    org = make_org(db)
    fine, stalled, never, old_success = make_mailboxes(db, org, 4, now)
    for user in (fine, stalled, old_success):
        add_states(db, user)
    add_session(db, fine, now - timedelta(minutes=5))
    for minutes in (10, 30, 60):
        add_session(db, stalled, now - timedelta(minutes=minutes), status="failed").error = "boom"
    add_session(db, old_success, now - timedelta(days=9))
    add_session(db, old_success, now - timedelta(minutes=5), status="failed")
    db.commit()
    health = health_for_users([fine, stalled, never, old_success])
    assert health[fine.id]["state"] == "up_to_date"
    assert health[stalled.id]["state"] == "stalled"
    assert health[stalled.id]["last_error"] == "boom"
    assert health[never.id]["state"] == "not_started"
    # A success older than the recent window is still the "last success" shown.
    assert health[old_success.id]["last_success_at"] is not None


@pytest.fixture
def app_config():
    return {"SYNC_WEBHOOKS_ENABLED": True, "SYNC_SAFETY_POLL_MINUTES": 60}


def _subscribed_pair(db, now):
    org = make_org(db)
    watched, unwatched, expired = make_mailboxes(db, org, 3, now - timedelta(minutes=1))
    for user in (watched, unwatched, expired):
        add_session(db, user, now - timedelta(minutes=20))
    subscribe(db, watched, now + timedelta(days=2), now + timedelta(days=1))
    subscribe(db, expired, now - timedelta(minutes=1), now - timedelta(days=1))
    db.commit()
    return watched, unwatched, expired


def test_live_subscriptions_leave_only_the_safety_poll(app, db):
    now = utcnow()
    watched, unwatched, expired = _subscribed_pair(db, now)
    # 20 minutes after their last session: the 10-minute poll is due for the mailboxes
    # without a working subscription; the watched one waits for its safety poll.
    assert sorted(due_user_ids(now)) == sorted([unwatched.id, expired.id])
    next_look = _due_times(db)[watched.id]
    assert now + timedelta(minutes=10) <= next_look <= now + timedelta(minutes=70)
    assert watched.id in due_user_ids(now + timedelta(minutes=71))


def test_a_subscription_due_for_renewal_makes_the_session_due(app, db):
    now = utcnow()
    watched, _, _ = _subscribed_pair(db, now)
    subscribe_rows = watched.id
    from server.models.sync import GraphSubscription

    for sub in db.scalars(
        select(GraphSubscription).where(GraphSubscription.user_id == subscribe_rows)
    ):
        sub.renew_at = now - timedelta(seconds=1)
    db.commit()
    assert watched.id in due_user_ids(now)


def test_a_watched_mailbox_quiet_until_its_safety_poll_is_up_to_date(app, db):
    """No session for 45 minutes means no change when notifications watch the mailbox;
    without them it is 'delayed' (no successful session in 30 minutes)."""
    now = utcnow()
    org = make_org(db)
    watched, unwatched = make_mailboxes(db, org, 2, now)
    for user in (watched, unwatched):
        add_states(db, user)
        add_session(db, user, now - timedelta(minutes=45))
    subscribe(db, watched, now + timedelta(days=2), now + timedelta(days=1))
    db.commit()
    health = health_for_users([watched, unwatched])
    assert health[watched.id]["state"] == "up_to_date"
    assert health[unwatched.id]["state"] == "delayed"
