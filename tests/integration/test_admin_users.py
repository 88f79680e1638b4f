"""The admin's Users page and its actions: the directory read through Graph, allow/disallow
with "only allowed users" (the pane refuses, the sync stops), sync switches, bulk actions,
sorting and filtering, the audit trail, and health for a page in a fixed number of queries."""

from __future__ import annotations

import pytest
from sqlalchemy import event, select

from server.db import get_engine
from server.models.admin import AuditEvent, DirectoryMember
from server.models.schedule import mark_due
from server.models.tenancy import Organisation, User
from server.sandbox.directory import DEMO_TENANT_ID, DEMO_USERS, OTHER_TENANT_ID
from server.sync.scheduler import due_user_ids
from tests.integration.admin_helpers import csrf, web_sign_in
from tests.integration.signin_helpers import sign_in_for_token

ALEX, BIANCA, CHEN = DEMO_USERS[0], DEMO_USERS[1], DEMO_USERS[2]
DEMO_PEOPLE = [u for u in DEMO_USERS if u.tenant_id == DEMO_TENANT_ID]


@pytest.fixture
def app_config(sandbox):
    return sandbox.settings()


@pytest.fixture
def admin_client(app, sandbox):
    client = app.test_client()
    assert web_sign_in(client, sandbox, ALEX).status_code == 302
    return client


def act(client, action: str, *object_ids: str):
    answer = client.post(
        "/admin/users/action",
        data={"csrf_token": csrf(client), "action": action, "selected": list(object_ids)},
    )
    assert answer.status_code == 302, answer.data
    return answer


def bearer(token: str) -> dict:
    return {"Authorization": f"Bearer {token}"}


def test_refresh_lists_every_person_of_the_tenant(app, admin_client, db):
    answer = admin_client.post("/admin/users/refresh", data={"csrf_token": csrf(admin_client)})
    assert answer.status_code == 302
    members = db.scalars(select(DirectoryMember.object_id)).all()
    assert sorted(members) == sorted(u.object_id for u in DEMO_PEOPLE)
    page = admin_client.get("/admin/users").get_data(as_text=True)
    for person in DEMO_PEOPLE:
        assert person.email in page  # Chen, Dana, Eli never signed in but are listed
    assert not any(u.email in page for u in DEMO_USERS if u.tenant_id == OTHER_TENANT_ID)
    assert "never signed in" in page
    org = db.scalar(select(Organisation).where(Organisation.tenant_id == DEMO_TENANT_ID))
    assert org.directory_refreshed_at is not None


def test_the_periodic_job_refreshes_a_stale_directory(app, admin_client, db):
    from server.admin.directory import refresh_due_directories

    assert refresh_due_directories() == [db.scalar(select(Organisation.id))]
    assert len(db.scalars(select(DirectoryMember)).all()) == len(DEMO_PEOPLE)
    assert refresh_due_directories() == []  # fresh for 24 hours


def test_disallowed_user_is_refused_by_the_pane_and_not_synced(app, admin_client, sandbox, db):
    token = sign_in_for_token(app.test_client(), sandbox, BIANCA)
    bianca = db.scalar(select(User).where(User.object_id == BIANCA.object_id))
    assert bianca.id in due_user_ids()
    admin_client.post("/admin/users/refresh", data={"csrf_token": csrf(admin_client)})
    act(admin_client, "allow", CHEN.object_id)  # known from the directory only
    admin_client.post(
        "/admin/users/restriction", data={"csrf_token": csrf(admin_client), "restrict": "on"}
    )
    refused = app.test_client().get("/api/me", headers=bearer(token))
    assert refused.status_code == 403 and refused.json["error"] == "user_not_allowed"
    mark_due(db, bianca.id, bianca.org_id)  # due by time (as after a sign-in), yet refused
    db.commit()
    assert bianca.id not in due_user_ids()
    act(admin_client, "allow", BIANCA.object_id)
    assert app.test_client().get("/api/me", headers=bearer(token)).status_code == 200
    assert bianca.id in due_user_ids()
    act(admin_client, "disallow", BIANCA.object_id)
    assert app.test_client().get("/api/me", headers=bearer(token)).status_code == 403
    actions = [e.action for e in db.scalars(select(AuditEvent).order_by(AuditEvent.id))]
    assert actions == ["user.allowed", "org.restriction_changed", "user.allowed", "user.disallowed"]
    last = db.scalar(select(AuditEvent).order_by(AuditEvent.id.desc()))
    assert last.actor == ALEX.email and last.ip and last.target == BIANCA.email
    assert (last.before, last.after) == ({"allowed": True}, {"allowed": False})


def test_bulk_sync_switches_and_sync_now(app, admin_client, sandbox, db, redis_client):
    for person in (BIANCA, CHEN):
        sign_in_for_token(app.test_client(), sandbox, person)
    act(admin_client, "disable_sync", BIANCA.object_id, CHEN.object_id)
    db.expire_all()
    users = db.scalars(
        select(User).where(User.object_id.in_([BIANCA.object_id, CHEN.object_id]))
    ).all()
    assert [u.sync_enabled for u in users] == [False, False]
    assert not set(due_user_ids()) & {u.id for u in users}
    page = admin_client.get("/admin/users?state=disabled").get_data(as_text=True)
    assert BIANCA.email in page and CHEN.email in page and ALEX.email not in page
    act(admin_client, "sync_now", BIANCA.object_id)  # refused: sync is off
    assert db.scalar(select(AuditEvent).where(AuditEvent.action == "sync.requested")) is None
    act(admin_client, "enable_sync", BIANCA.object_id)
    act(admin_client, "sync_now", BIANCA.object_id)
    assert db.scalar(select(AuditEvent).where(AuditEvent.action == "sync.requested"))
    events = db.scalars(select(AuditEvent.action).where(AuditEvent.action.like("sync.%"))).all()
    assert sorted(events) == sorted(
        ["sync.disabled", "sync.disabled", "sync.enabled", "sync.requested"]
    )


def test_revoke_microsoft_ends_the_users_sessions(app, admin_client, sandbox, db):
    token = sign_in_for_token(app.test_client(), sandbox, BIANCA)
    act(admin_client, "revoke_microsoft", BIANCA.object_id)
    assert app.test_client().get("/api/me", headers=bearer(token)).status_code == 401
    entry = db.scalar(select(AuditEvent).where(AuditEvent.action == "connection.revoked"))
    assert entry.after == {"provider": "microsoft", "had_connection": True}


def test_sort_filter_and_paginate(app, admin_client, db):
    admin_client.post("/admin/users/refresh", data={"csrf_token": csrf(admin_client)})
    page = admin_client.get("/admin/users?sort=name&dir=desc").get_data(as_text=True)
    page = page[page.index("<tbody>") :]
    names = sorted((u.display_name for u in DEMO_PEOPLE), reverse=True)
    positions = [page.index(n) for n in names]
    assert positions == sorted(positions)
    only = admin_client.get("/admin/users?q=chen").get_data(as_text=True)
    assert CHEN.email in only and BIANCA.email not in only
    admins = admin_client.get("/admin/users?role=admin").get_data(as_text=True)
    assert ALEX.email in admins and CHEN.email not in admins
    first = admin_client.get("/admin/users?per_page=25&page=1").get_data(as_text=True)
    assert "Page 1 of 1" in first


def test_scope_filter_lists_who_application_mode_may_read(app, admin_client, sandbox, db):
    admin_client.post("/admin/users/refresh", data={"csrf_token": csrf(admin_client)})
    sign_in_for_token(app.test_client(), sandbox, BIANCA)
    for person, scope in ((ALEX, "in"), (BIANCA, "removed")):
        db.scalar(select(User).where(User.object_id == person.object_id)).app_scope = scope
    db.commit()

    def listed(query: str) -> set[str]:
        page = admin_client.get(f"/admin/users?{query}").get_data(as_text=True)
        return {u.email for u in DEMO_PEOPLE if u.email in page[page.index("<tbody>") :]}

    everyone = {u.email for u in DEMO_PEOPLE}
    assert listed("scope=in") == {ALEX.email}
    # Out: removed from scope, signed in but never scoped, and directory-only people.
    assert listed("scope=out") == everyone - {ALEX.email}
    assert listed("scope=out&role=admin") == set()
    assert listed("scope=bogus") == everyone  # an unknown value filters nothing, as state=
    form = admin_client.get("/admin/users?scope=in").get_data(as_text=True)
    assert '<option value="in" selected>in scope</option>' in form


def _count_queries(fn) -> int:
    statements = []

    def before(conn, cursor, statement, *args):
        statements.append(statement)

    engine = get_engine()
    event.listen(engine, "before_cursor_execute", before)
    try:
        fn()
    finally:
        event.remove(engine, "before_cursor_execute", before)
    return len(statements)


@pytest.mark.parametrize("filters", ["", "&scope=in", "&scope=out&sort=state"])
def test_users_page_runs_the_same_number_of_queries_for_more_users(app, admin_client, db, filters):
    from bench.admin_data import add_people

    org = db.scalar(select(Organisation).where(Organisation.tenant_id == DEMO_TENANT_ID))
    add_people(db, org, 30)
    small = _count_queries(lambda: admin_client.get(f"/admin/users?per_page=25{filters}"))
    add_people(db, org, 120, start=30)
    large = _count_queries(lambda: admin_client.get(f"/admin/users?per_page=25{filters}"))
    assert small == large, (small, large)
    wide = _count_queries(lambda: admin_client.get(f"/admin/users?per_page=100{filters}"))
    assert wide == large
