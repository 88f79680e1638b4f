"""Application mode's console and scope against the sandbox: consent for application
permissions through Microsoft's admin consent page, the sync mode switch, a Microsoft 365
group (or picked people) as the scope, and the directory refresh — joiners get a user and
are synced without ever signing in, leavers (out of the group, or out of the tenant) show
"removed from scope" and stop, and what was saved stays. Every step is in the audit log."""

from __future__ import annotations

from datetime import timedelta
from urllib.parse import urlsplit

import pytest
from lxml import html
from sqlalchemy import func, select

from server.db import utcnow
from server.demo import seed_demo
from server.models.admin import AuditEvent
from server.models.app_scope import AppScopeChoice, AppScopePick
from server.models.ledger import LedgerEntry
from server.models.tenancy import Organisation, User
from server.sandbox.directory import DEMO_TENANT_ID, DEMO_USERS, OTHER_TENANT_ID
from server.sandbox.directory_changes import OTHER_GROUP, SALES_GROUP
from server.sandbox.graph_state import DEFAULT_EVENTS, DEFAULT_MESSAGES, DEFAULT_SEED
from server.sync.scheduler import due_user_ids
from server.sync.session import run_session
from tests.integration.admin_helpers import csrf, web_sign_in

ALEX, BIANCA, CHEN, DANA, ELI = DEMO_USERS[:5]
OLGA = next(u for u in DEMO_USERS if u.tenant_id == OTHER_TENANT_ID)
SANDBOX_DEFAULTS = {"messages": DEFAULT_MESSAGES, "events": DEFAULT_EVENTS, "seed": DEFAULT_SEED}


@pytest.fixture
def app_config(sandbox):
    return sandbox.settings()


@pytest.fixture
def admin(app, sandbox, db):
    sandbox.control("/_sandbox/graph/configure", {"messages": 40, "events": 6, "seed": 5})
    seed_demo(db)  # the demo CRM, so synced mail has people to be saved against
    db.commit()
    client = app.test_client()
    assert web_sign_in(client, sandbox, ALEX).status_code == 302
    yield client
    # A reset keeps the last configured size: give the next test on this worker the default.
    sandbox.control("/_sandbox/graph/configure", SANDBOX_DEFAULTS)


def post(client, path: str, **data):
    answer = client.post(path, data={"csrf_token": csrf(client), **data})
    assert answer.status_code == 302, (path, answer.status_code, answer.data[:500])
    return answer


def grant_consent(client, sandbox, decision: str = "accept"):
    """The console's button, Microsoft's consent page (the sandbox's), back to the console."""
    start = post(client, "/admin/sync-mode/consent")
    location = start.headers["Location"]
    assert location.startswith(f"{sandbox.url}/{DEMO_TENANT_ID}/v2.0/adminconsent?")
    assert sandbox.http.get(location).status_code == 200
    answer = sandbox.http.post(location, data={"decision": decision}, allow_redirects=False)
    assert answer.status_code == 302
    back = urlsplit(answer.headers["Location"])
    return client.get(f"{back.path}?{back.query}")


def scoped(db) -> dict[str, str]:
    db.expire_all()
    return dict(
        db.execute(select(User.email, User.app_scope).where(User.app_scope.is_not(None))).all()
    )


def saved_count(db, user_id: int) -> int:
    return db.scalar(
        select(func.count()).where(LedgerEntry.user_id == user_id, LedgerEntry.status == "saved")
    )


def user_of(db, person) -> User:
    db.expire_all()
    return db.scalar(select(User).where(User.object_id == person.object_id))


def actions(db) -> list[str]:
    return [e.action for e in db.scalars(select(AuditEvent).order_by(AuditEvent.id))]


def test_group_scope_joiners_synced_leavers_stop_and_keep_what_was_saved(app, admin, sandbox, db):
    done = grant_consent(admin, sandbox)
    assert done.status_code == 200 and "Consent granted" in done.get_data(as_text=True)
    post(admin, "/admin/sync-mode/mode", mode="application")
    post(admin, "/admin/sync-mode/scope", kind="group", group_id=SALES_GROUP)
    # Bianca, Chen and (through the nested Sales EMEA group) Dana: none of them signed in.
    assert scoped(db) == {BIANCA.email: "in", CHEN.email: "in", DANA.email: "in"}
    chen = user_of(db, CHEN)
    assert chen.id in due_user_ids()
    first = run_session(chen.id, "now")
    assert first["status"] == "succeeded", first
    chen_saved = saved_count(db, chen.id)
    assert chen_saved > 0

    # A week later: Farah joins the company and the group; Chen leaves the group; Dana
    # leaves the company.
    farah = sandbox.control(
        "/_sandbox/directory/users",
        {"display_name": "Farah Joiner", "email": "farah@courier-demo.test"},
    )
    sandbox.control(f"/_sandbox/directory/groups/{SALES_GROUP}/members", {"id": farah["id"]})
    sandbox.control(
        f"/_sandbox/directory/groups/{SALES_GROUP}/members/{CHEN.object_id}", method="DELETE"
    )
    sandbox.control(f"/_sandbox/directory/users/{DANA.object_id}", method="DELETE")
    org = db.scalar(select(Organisation).where(Organisation.tenant_id == DEMO_TENANT_ID))
    org.directory_refreshed_at = utcnow() - timedelta(hours=25)
    db.commit()
    from server.admin.directory import refresh_due_directories

    assert refresh_due_directories() == [org.id]  # the scheduler's daily job
    assert scoped(db) == {
        BIANCA.email: "in",
        CHEN.email: "removed",
        DANA.email: "removed",
        "farah@courier-demo.test": "in",
    }
    joiner = db.scalar(select(User).where(User.email == "farah@courier-demo.test"))
    assert joiner.object_id == farah["id"]
    assert joiner.id in due_user_ids()
    assert run_session(joiner.id, "now")["status"] == "succeeded"
    assert saved_count(db, joiner.id) > 0
    # Chen stops: not due, and what was saved stays.
    assert chen.id not in due_user_ids()
    assert run_session(chen.id, "now")["status"] == "disabled"  # even when asked: not read
    assert saved_count(db, chen.id) == chen_saved
    page = admin.get("/admin/users").get_data(as_text=True)
    assert "removed from scope" in page and "in scope" in page

    refreshed = db.scalars(
        select(AuditEvent).where(AuditEvent.action == "directory.refreshed").order_by(AuditEvent.id)
    ).all()
    assert refreshed[-1].after["joiners"] == 1 and refreshed[-1].after["leavers"] == 2
    assert refreshed[-1].actor == "scheduler"
    assert actions(db)[:3] == ["consent.app_granted", "sync_mode.changed", "scope.changed"]
    changed = db.scalar(select(AuditEvent).where(AuditEvent.action == "scope.changed"))
    assert changed.before["kind"] == "users" and changed.after["group_id"] == SALES_GROUP


def test_picked_users_scope_from_the_users_page(app, admin, sandbox, db):
    grant_consent(admin, sandbox)
    post(admin, "/admin/users/refresh")
    post(admin, "/admin/sync-mode/mode", mode="application")
    post(
        admin,
        "/admin/users/action",
        action="scope_add",
        selected=[ELI.object_id, BIANCA.object_id],
    )
    post(admin, "/admin/sync-mode/refresh")
    assert scoped(db) == {ELI.email: "in", BIANCA.email: "in"}
    post(admin, "/admin/users/action", action="scope_remove", selected=[BIANCA.object_id])
    post(admin, "/admin/sync-mode/refresh")
    assert scoped(db) == {ELI.email: "in", BIANCA.email: "removed"}
    assert {"scope.user_added", "scope.user_removed", "directory.refreshed"} <= set(actions(db))


def test_refused_or_unstarted_consent_is_not_recorded_as_granted(app, admin, sandbox, db):
    refused = grant_consent(admin, sandbox, decision="cancel")
    assert refused.status_code == 400
    assert "AADSTS65004" in refused.get_data(as_text=True)
    failed = db.scalar(select(AuditEvent).where(AuditEvent.action == "consent.app_failed"))
    assert failed.after["error"] == "access_denied"
    forged = admin.get("/admin/sync-mode/consent/done?admin_consent=True&state=made-up")
    assert forged.status_code == 400
    assert db.scalar(select(Organisation.app_consent_at)) is None


def test_another_organisations_group_or_person_is_not_found(app, admin, sandbox, db):
    grant_consent(admin, sandbox)
    other_group = admin.post(
        "/admin/sync-mode/scope",
        data={"csrf_token": csrf(admin), "kind": "group", "group_id": OTHER_GROUP},
    )
    assert other_group.status_code == 404
    assert "Northwind" not in other_group.get_data(as_text=True)
    post(admin, "/admin/users/action", action="scope_add", selected=[OLGA.object_id])
    assert db.scalar(select(AppScopePick.id)) is None
    choice = db.scalar(select(AppScopeChoice))
    assert choice is None or choice.group_id != OTHER_GROUP


def test_group_search_lists_only_the_tenants_microsoft_365_groups(app, admin, sandbox):
    grant_consent(admin, sandbox)
    page = html.fromstring(admin.get("/admin/sync-mode?group_q=sales").get_data(as_text=True))
    found = [
        li.get("data-group-id") for li in page.xpath('//ul[@id="group-results"]/li[@data-group-id]')
    ]
    assert SALES_GROUP in found and OTHER_GROUP not in found
    assert len(found) == 2  # "Sales team" and "Sales EMEA"


def preflight_rows(client) -> dict[str, tuple[bool, str, str]]:
    page = html.fromstring(client.get("/admin/deployment?preflight=1").get_data(as_text=True))
    rows = {}
    for tr in page.xpath('//table[@id="preflight"]/tbody/tr'):
        cells = [c.text_content().strip() for c in tr.xpath("td")]
        rows[cells[0]] = (tr.get("data-ok") == "true", cells[2], cells[3])
    return rows


def test_preflight_checks_the_token_and_the_tenants_mailbox_limit(app, admin, sandbox, db):
    grant_consent(admin, sandbox)
    post(admin, "/admin/users/refresh")  # the directory: who is outside the scope
    post(admin, "/admin/sync-mode/mode", mode="application")
    post(admin, "/admin/users/action", action="scope_add", selected=[BIANCA.object_id])
    post(admin, "/admin/sync-mode/refresh")
    token_row = "An app-only token has the roles the sync needs"
    inside, outside = (
        "A mailbox inside the scope is readable",
        "A mailbox outside the scope is refused",
    )
    rows = preflight_rows(admin)
    assert rows[token_row][0], rows[token_row]
    assert rows[inside][0] and BIANCA.email in rows[inside][1]
    # No limit at the tenant: the outside mailbox is readable — red, with what to do.
    assert not rows[outside][0] and "application access policy" in rows[outside][2]

    # The tenant limits the app to Bianca's mailbox (an application access policy).
    sandbox.control(
        "/_sandbox/graph/access-policy",
        {"tenant_id": DEMO_TENANT_ID, "allowed": [BIANCA.object_id]},
    )
    rows = preflight_rows(admin)
    assert rows[inside][0] and rows[outside][0], rows
    assert "403" in rows[outside][1]

    # A policy that leaves Bianca out: the inside check says so.
    sandbox.control(
        "/_sandbox/graph/access-policy", {"tenant_id": DEMO_TENANT_ID, "allowed": [ELI.object_id]}
    )
    rows = preflight_rows(admin)
    assert not rows[inside][0] and "refuses this mailbox" in rows[inside][2]
