"""Retention: finished sync sessions past SYNC_SESSION_RETENTION_DAYS are deleted by the
periodic job (run by a real RQ worker); running sessions and every ledger row stay."""

from __future__ import annotations

from datetime import timedelta

import pytest
from sqlalchemy import func, select

from server.db import utcnow
from server.models.ledger import LedgerEntry
from server.models.sync import SyncSession
from server.models.tenancy import Organisation, User
from server.periodic import PERIODIC, enqueue_due
from server.retention import RETENTION


@pytest.fixture
def app_config():
    return {"SYNC_SESSION_RETENTION_DAYS": 30}


def _user(db) -> User:
    org = Organisation(tenant_id="tenant-retention", name="Retention Ltd")
    db.add(org)
    db.flush()
    # Sync off: the minute tick (enqueued with retention) must not start sessions of its own.
    user = User(
        org_id=org.id,
        tenant_id=org.tenant_id,
        object_id="oid-1",
        email="a@r.test",
        sync_enabled=False,
    )
    db.add(user)
    db.flush()
    return user


def _session(db, user, days_ago: float, status: str = "succeeded") -> int:
    started = utcnow() - timedelta(days=days_ago)
    # A running session is alive (fresh heartbeat), or the tick would mark it abandoned.
    beat = utcnow() if status == "running" else started
    row = SyncSession(
        org_id=user.org_id, user_id=user.id, status=status, started_at=started, heartbeat_at=beat
    )
    db.add(row)
    db.flush()
    return row.id


def test_the_periodic_job_prunes_old_finished_sessions_and_keeps_the_ledger(
    app, db, redis_client, run_jobs
):
    user = _user(db)
    old = [_session(db, user, 31 + i, status) for i, status in enumerate(["succeeded", "failed"])]
    old_running = _session(db, user, 40, "running")
    recent = [_session(db, user, days) for days in (0, 29.9)]
    for n in range(3):
        db.add(
            LedgerEntry(
                org_id=user.org_id,
                item_key=f"key-{n}",
                kind="email",
                crm_target="builtin",
                user_id=user.id,
                status="saved",
                created_at=utcnow() - timedelta(days=400),
            )
        )
    db.commit()

    assert any(p.func == "server.retention.prune" for p in PERIODIC)
    enqueue_due(redis_client)
    run_jobs()

    db.expire_all()
    left = set(db.scalars(select(SyncSession.id)))
    assert left == {old_running, *recent}
    assert not left & set(old)
    assert db.scalar(select(func.count()).select_from(LedgerEntry)) == 3


def test_pruning_goes_in_batches(app, db, monkeypatch):
    from server import retention

    monkeypatch.setattr(retention, "BATCH_ROWS", 2)
    user = _user(db)
    for days in range(31, 36):
        _session(db, user, days)
    kept = _session(db, user, 1)
    db.commit()
    assert retention.prune() == {"sync_sessions": 5, "audit_events": 0}
    db.expire_all()
    assert list(db.scalars(select(SyncSession.id))) == [kept]


def test_the_ledger_is_never_a_retention_target():
    assert "ledger_entries" not in {rule.model.__tablename__ for rule in RETENTION}


def test_flask_prune_reports_what_it_deleted(app, db):
    user = _user(db)
    _session(db, user, 100)
    db.commit()
    result = app.test_cli_runner().invoke(args=["prune"])
    assert result.exit_code == 0, result.output
    assert "sync_sessions: 1 rows deleted" in result.output


def test_audit_events_past_their_retention_are_deleted(app, db):
    from server.admin.audit import record_audit
    from server.models.admin import AuditEvent

    user = _user(db)
    old = record_audit(user.org_id, "sync.disable", actor_label="cli")
    recent = record_audit(user.org_id, "sync.enable", actor_label="cli")
    old.created_at = utcnow() - timedelta(days=401)
    db.commit()
    assert app.config["AUDIT_RETENTION_DAYS"] == 400
    counts = retention_prune()
    assert counts["audit_events"] == 1
    db.expire_all()
    assert list(db.scalars(select(AuditEvent.id))) == [recent.id]


def retention_prune():
    from server import retention

    return retention.prune()
