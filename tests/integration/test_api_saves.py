"""POST /api/saves, /api/saves/state and PUT /api/threads: saved once with every chosen link,
"already saved" on repeat, thread auto-save rules, queued (pending) when the CRM is down."""

from __future__ import annotations

from datetime import timedelta

import pytest
from sqlalchemy import create_engine, select, text

from server.crm.builtin.models import CrmActivity, CrmActivityLink
from server.models.ledger import LedgerEntry, ThreadRule
from server.pane.save_queue import requeue_pending_saves

from .pane_fixtures import build_world, item


@pytest.fixture
def world(db):
    return build_world(db)


def _links(world, *names):
    kinds = {
        "alice": "contact",
        "acme": "account",
        "renewal": "opportunity",
        "lee": "lead",
        "foreign_contact": "contact",
        "sam_mine": "contact",
    }
    return [{"type": kinds[n], "id": world.ids[n]} for n in names]


def _save(client, world, links, **extra):
    body = {"item": item(), "links": links, **extra}
    return client.post("/api/saves", json=body, headers=world.headers)


def _activity_links(db, key):
    activity = db.scalar(select(CrmActivity).where(CrmActivity.key == key))
    if activity is None:
        return None
    rows = db.scalars(select(CrmActivityLink).where(CrmActivityLink.activity_id == activity.id))
    return {(r.record_type, str(r.record_id), r.role) for r in rows}


def test_save_links_every_chosen_record_once(client, world, db):
    response = _save(client, world, _links(world, "alice", "acme", "renewal"))
    assert response.status_code == 201
    assert response.get_json()["status"] == "saved"
    db.expire_all()
    assert _activity_links(db, "<renewal-1@acme.test>") == {
        ("contact", world.ids["alice"], "from"),
        ("account", world.ids["acme"], "related"),
        ("opportunity", world.ids["renewal"], "related"),
    }
    entry = db.scalar(select(LedgerEntry))
    assert (entry.status, entry.source, entry.item_key) == (
        "saved",
        "manual",
        "<renewal-1@acme.test>",
    )
    activity = db.scalar(select(CrmActivity))
    assert activity.body_text.startswith("Hello Alex")

    again = _save(client, world, _links(world, "alice", "acme", "renewal"))
    assert again.status_code == 200
    assert again.get_json()["status"] == "already_saved"
    assert len(db.scalars(select(CrmActivity)).all()) == 1

    shown = client.post("/api/suggestions", json={"item": item()}, headers=world.headers)
    saved = shown.get_json()["saved"]
    assert saved["status"] == "saved"
    assert {(link["type"], link["name"]) for link in saved["links"]} == {
        ("contact", "Alice Archer"),
        ("account", "Acme Corp"),
        ("opportunity", "Acme renewal"),
    }
    assert shown.get_json()["why"] is None


def test_saving_more_links_later_adds_them(client, world, db):
    _save(client, world, _links(world, "alice"))
    response = _save(client, world, _links(world, "alice", "renewal"))
    assert response.get_json()["status"] == "saved"
    db.expire_all()
    assert ("opportunity", world.ids["renewal"], "related") in _activity_links(
        db, "<renewal-1@acme.test>"
    )
    entry = db.scalar(select(LedgerEntry))
    assert {(d["type"], d["id"]) for d in entry.links} == {
        ("contact", world.ids["alice"]),
        ("opportunity", world.ids["renewal"]),
    }


def test_html_body_is_stored_as_text(client, world, db):
    body = {
        "item": item(body="<p>Hi <b>there</b></p><script>alert(1)</script>&amp; bye"),
        "links": _links(world, "alice"),
    }
    assert client.post("/api/saves", json=body, headers=world.headers).status_code == 201
    activity = db.scalar(select(CrmActivity))
    assert activity.body_text == "Hi there\n& bye"  # a paragraph's end stays a line break


def test_auto_save_thread_creates_the_rule_and_can_be_switched_off(client, world, db):
    response = _save(client, world, _links(world, "alice", "renewal"), auto_save_thread=True)
    assert response.status_code == 201
    rule = db.scalar(select(ThreadRule))
    assert (rule.conversation_id, rule.enabled) == ("conv-renewal", True)
    assert {(d["type"], d["id"]) for d in rule.links} == {
        ("contact", world.ids["alice"]),
        ("opportunity", world.ids["renewal"]),
    }
    shown = client.post("/api/suggestions", json={"item": item()}, headers=world.headers)
    assert shown.get_json()["thread"]["auto_save"] is True

    off = client.put(
        "/api/threads",
        headers=world.headers,
        json={"conversation_id": "conv-renewal", "enabled": False},
    )
    assert off.status_code == 200 and off.get_json()["auto_save"] is False
    db.expire_all()
    assert db.scalar(select(ThreadRule)).enabled is False
    on = client.put(
        "/api/threads",
        headers=world.headers,
        json={"conversation_id": "conv-renewal", "enabled": True},
    )
    assert on.get_json()["auto_save"] is True


def test_thread_rule_needs_records_the_first_time(client, world):
    response = client.put(
        "/api/threads",
        headers=world.headers,
        json={"conversation_id": "conv-new", "enabled": True, "links": []},
    )
    assert response.status_code == 400
    assert response.get_json()["error"] == "missing_field"


def test_blocked_person_is_never_linked(client, world, db):
    client.post("/api/blocklist", json={"entry": "alice@acme.test"}, headers=world.headers)
    response = _save(client, world, _links(world, "alice"))
    assert response.status_code == 409
    assert response.get_json()["error"] == "blocked_record"
    assert db.scalar(select(CrmActivity)) is None


def test_saved_state(client, world):
    state = client.post("/api/saves/state", json={"item": item()}, headers=world.headers)
    assert state.get_json()["status"] is None
    _save(client, world, _links(world, "alice"))
    state = client.post("/api/saves/state", json={"item": item()}, headers=world.headers)
    assert state.get_json()["status"] == "saved"


@pytest.mark.parametrize(
    ("links", "status", "code"),
    [
        ("alice", 400, "wrong_type"),
        ([], 400, "missing_field"),
        ([{"type": "contact"}], 400, "missing_field"),
        ([{"type": "planet", "id": "1"}], 400, "invalid_record_type"),
        ([{"type": "contact", "id": True}], 400, "wrong_type"),
        ([{"type": "contact", "id": "x" * 65}], 400, "invalid_record_id"),
        ([{"type": "contact", "id": "999999"}], 404, "unknown_record"),
        ([{"type": "contact", "id": f"{n}"} for n in range(51)], 413, "too_large"),
    ],
)
def test_save_bad_links(client, world, links, status, code):
    response = _save(client, world, links)
    assert response.status_code == status
    assert response.get_json()["error"] == code


def test_save_refuses_another_orgs_record(client, world, db):
    response = _save(client, world, _links(world, "foreign_contact"))
    assert response.status_code == 404
    assert response.get_json()["error"] == "unknown_record"
    assert db.scalar(select(CrmActivity)) is None


@pytest.mark.parametrize(
    ("body", "status", "code"),
    [
        ({"links": []}, 400, "missing_field"),
        (
            {"item": item(), "links": [{"type": "contact", "id": "1"}], "auto_save_thread": "yes"},
            400,
            "wrong_type",
        ),
        (
            {
                "item": item(**{"from": {"address": "@@"}}),
                "links": [{"type": "contact", "id": "1"}],
            },
            400,
            "invalid_address",
        ),
    ],
)
def test_save_bad_body(client, world, body, status, code):
    response = client.post("/api/saves", json=body, headers=world.headers)
    assert response.status_code == status
    assert response.get_json()["error"] == code


@pytest.mark.parametrize(
    ("body", "status", "code"),
    [
        ({"enabled": True}, 400, "missing_field"),
        ({"conversation_id": "c", "enabled": "on"}, 400, "wrong_type"),
        ({"conversation_id": "c" * 513, "enabled": True}, 400, "too_long"),
        (
            {
                "conversation_id": "c",
                "enabled": True,
                "links": [{"type": "contact", "id": "424242"}],
            },
            404,
            "unknown_record",
        ),
    ],
)
def test_thread_bad_input(client, world, body, status, code):
    response = client.put("/api/threads", json=body, headers=world.headers)
    assert response.status_code == status
    assert response.get_json()["error"] == code


def test_thread_refuses_another_orgs_record(client, world):
    response = client.put(
        "/api/threads",
        headers=world.headers,
        json={"conversation_id": "c", "enabled": True, "links": _links(world, "foreign_contact")},
    )
    assert response.status_code == 404


def test_save_is_queued_when_the_crm_cannot_be_reached(
    client, world, db, database_url, run_jobs, redis_client
):
    """A real outage of the built-in CRM's tables: another connection holds an exclusive lock
    and the database gives up waiting after 200 ms (PostgreSQL lock_timeout). Then Redis loses
    the queued job, and the tick's re-queue still gets the save written."""
    if not database_url.startswith("postgresql"):
        pytest.skip("needs PostgreSQL's lock_timeout to make the CRM tables unreachable")
    admin = create_engine(database_url, isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        name = conn.execute(text("select current_database()")).scalar()
        conn.execute(text(f'ALTER DATABASE "{name}" SET lock_timeout = 300'))
    from flask import current_app

    current_app.extensions["db_engine"].dispose()  # new connections pick up the setting
    locking = create_engine(database_url)
    blocker = locking.connect()
    holder = blocker.begin()
    try:
        blocker.execute(text("LOCK TABLE crm_activities IN ACCESS EXCLUSIVE MODE"))
        response = _save(client, world, _links(world, "alice", "renewal"))
        assert response.status_code == 200
        assert response.get_json()["status"] == "pending"
        state = client.post("/api/saves/state", json={"item": item()}, headers=world.headers)
        assert state.get_json()["status"] == "pending"
    finally:
        holder.rollback()
        blocker.close()
        locking.dispose()
        with admin.connect() as conn:
            conn.execute(text(f'ALTER DATABASE "{name}" RESET lock_timeout'))
        admin.dispose()
    redis_client.flushall()
    assert run_jobs() == 0
    assert requeue_pending_saves(older_than=timedelta(0)) == 1
    run_jobs()
    db.expire_all()
    entry = db.scalar(select(LedgerEntry))
    assert entry.status == "saved"
    assert entry.pending_draft is None
    assert _activity_links(db, "<renewal-1@acme.test>") == {
        ("contact", world.ids["alice"], "from"),
        ("opportunity", world.ids["renewal"], "related"),
    }
    state = client.post("/api/saves/state", json={"item": item()}, headers=world.headers)
    assert state.get_json()["status"] == "saved"


def test_a_queued_save_adds_the_users_links_even_after_the_sync_saved_the_email(
    client, world, db, run_jobs
):
    """While a pane save waits in the queue, the background sync may save the same email with
    its own links (and mark the ledger row saved); the job must still add what the user chose,
    and the tick must still re-queue it if the job was lost."""
    from server.crm.base import Link, RecordRef
    from server.pane.drafts import build_draft, draft_to_json
    from server.pane.items import parse_item

    pane_item = parse_item(item())
    chosen = [
        Link(RecordRef("contact", world.ids["alice"]), "from"),
        Link(RecordRef("opportunity", world.ids["renewal"]), "related"),
    ]
    draft = build_draft(pane_item, chosen, world.user.own_addresses, str(world.user.id))
    entry = LedgerEntry(
        org_id=world.user.org_id,
        item_key=pane_item.key,
        kind="email",
        crm_target="builtin",
        user_id=world.user.id,
        status="saved",  # what the sync's ledger write does to a pane's pending row
        source="manual",
        links=[{"type": "contact", "id": world.ids["alice"], "role": "from"}],
        pending_draft=draft_to_json(draft),
    )
    db.add(entry)
    db.commit()
    assert requeue_pending_saves(older_than=timedelta(minutes=-1)) == 1
    run_jobs()
    db.expire_all()
    assert _activity_links(db, pane_item.key) == {
        ("contact", world.ids["alice"], "from"),
        ("opportunity", world.ids["renewal"], "related"),
    }
    entry = db.scalar(select(LedgerEntry))
    assert entry.status == "saved" and entry.pending_draft is None
    assert requeue_pending_saves(older_than=timedelta(minutes=-1)) == 0


def test_a_manual_save_is_in_the_audit_log_once(client, world, db):
    from server.models.admin import AuditEvent

    _save(client, world, _links(world, "alice", "acme"))
    _save(client, world, _links(world, "alice", "acme"))  # already saved: nothing new
    events = db.scalars(select(AuditEvent)).all()
    assert [e.action for e in events] == ["activity.saved_manually"]
    entry = db.scalar(select(LedgerEntry))
    assert events[0].target == "<renewal-1@acme.test>" and events[0].target_id == str(entry.id)
    assert events[0].after["records"] == sorted(
        [f"contact:{world.ids['alice']}", f"account:{world.ids['acme']}"]
    )
    assert events[0].actor_id == entry.user_id


@pytest.fixture
def crm_tables_locked(database_url, app):
    """Makes the built-in CRM's activity table unreachable (PostgreSQL lock_timeout against a
    held ACCESS EXCLUSIVE lock) until the returned function is called."""
    if not database_url.startswith("postgresql"):
        pytest.skip("needs PostgreSQL's lock_timeout to make the CRM tables unreachable")
    admin = create_engine(database_url, isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        name = conn.execute(text("select current_database()")).scalar()
        conn.execute(text(f'ALTER DATABASE "{name}" SET lock_timeout = 300'))
    app.extensions["db_engine"].dispose()
    locking = create_engine(database_url)
    blocker = locking.connect()
    holder = blocker.begin()
    blocker.execute(text("LOCK TABLE crm_activities IN ACCESS EXCLUSIVE MODE"))
    released = []

    def release() -> None:
        if released:
            return
        released.append(True)
        holder.rollback()
        blocker.close()
        locking.dispose()
        with admin.connect() as conn:
            conn.execute(text(f'ALTER DATABASE "{name}" RESET lock_timeout'))
        admin.dispose()
        app.extensions["db_engine"].dispose()

    yield release
    release()


@pytest.mark.parametrize("queued_again_by", ["re-save", "tick"])
def test_a_save_whose_job_used_up_its_retries_is_queued_again(
    client, world, db, run_jobs, redis_client, crm_tables_locked, monkeypatch, queued_again_by
):
    """RQ keeps a failed job's record for days and refuses its id meanwhile: without the one
    enqueue releasing ended jobs, this save would stay pending for ever."""
    from rq import Retry
    from rq.job import Job, JobStatus

    monkeypatch.setattr("server.pane.save_queue.SAVE_RETRY", Retry(max=1))  # no waits in a test
    response = _save(client, world, _links(world, "alice", "renewal"))
    assert response.get_json()["status"] == "pending"
    entry_id = db.scalar(select(LedgerEntry.id))
    job_id = f"pane-save-{entry_id}"
    assert run_jobs() == 2  # the first try and its one retry, both refused by the locked table
    assert Job.fetch(job_id, connection=redis_client).get_status() == JobStatus.FAILED
    db.expire_all()
    assert db.get(LedgerEntry, entry_id).status == "pending"

    if queued_again_by == "re-save":
        again = _save(client, world, _links(world, "alice", "renewal"))
        assert again.get_json()["status"] == "pending"
    else:
        assert requeue_pending_saves(older_than=timedelta(0)) == 1
    assert Job.fetch(job_id, connection=redis_client).get_status() == JobStatus.QUEUED
    # Still queued: neither path queues it twice, and the tick says it queued nothing.
    assert requeue_pending_saves(older_than=timedelta(0)) == 0
    crm_tables_locked()
    assert run_jobs() == 1
    db.expire_all()
    entry = db.get(LedgerEntry, entry_id)
    assert (entry.status, entry.pending_draft) == ("saved", None)
    assert _activity_links(db, "<renewal-1@acme.test>") == {
        ("contact", world.ids["alice"], "from"),
        ("opportunity", world.ids["renewal"], "related"),
    }
