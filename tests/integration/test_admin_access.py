"""Who may use the admin console, walked over every /admin route of the URL map (as the
tenant-isolation test does): signed out → sign-in, non-admin → 403, admin → the page; another
organisation's ids → 404. Roles follow the directory at each sign-in plus explicit grants."""

from __future__ import annotations

import pytest
from sqlalchemy import select
from werkzeug.routing import AnyConverter

from server.models.admin import AuditEvent
from server.models.tenancy import User
from server.sandbox.directory import DEMO_USERS, GLOBAL_ADMIN_ROLE, OTHER_TENANT_ID
from tests.integration.admin_helpers import csrf, web_sign_in
from tests.integration.signin_helpers import sign_in_for_token

ALEX, BIANCA = DEMO_USERS[0], DEMO_USERS[1]
OLGA = next(u for u in DEMO_USERS if u.tenant_id == OTHER_TENANT_ID)


@pytest.fixture
def app_config(sandbox):
    return sandbox.settings()


def admin_rules(app):
    """Every console page (the JSON endpoints under /admin/api/ use bearer tokens)."""
    rules = [
        r
        for r in app.url_map.iter_rules()
        if r.rule.startswith("/admin") and not r.rule.startswith("/admin/api/")
    ]
    assert len(rules) >= 5, "the admin console has pages"
    return sorted(rules, key=lambda r: r.rule)


def _url(rule, user_id: int) -> str:
    values = {}
    for name in rule.arguments:
        converter = rule._converters[name]
        values[name] = (
            sorted(converter.items)[0] if isinstance(converter, AnyConverter) else user_id
        )
    return rule.build(values, append_unknown=False)[1]


def _user(db, directory_user) -> User:
    return db.scalar(select(User).where(User.object_id == directory_user.object_id))


def test_signed_out_browser_is_sent_to_sign_in_everywhere(app, client, sandbox, db):
    sign_in_for_token(app.test_client(), sandbox, ALEX)
    alex = _user(db, ALEX)
    for rule in admin_rules(app):
        url = _url(rule, alex.id)
        for method in sorted((rule.methods or set()) & {"GET", "POST"}):
            token = csrf(client)
            answer = client.open(url, method=method, data={"csrf_token": token})
            assert answer.status_code == 302, f"{method} {url}: {answer.status_code}"
            assert answer.headers["Location"].startswith("/auth/signin"), url


def test_non_admin_gets_403_everywhere(app, client, sandbox, db):
    sign_in_for_token(app.test_client(), sandbox, ALEX)
    assert web_sign_in(client, sandbox, BIANCA).status_code == 302
    alex = _user(db, ALEX)
    for rule in admin_rules(app):
        url = _url(rule, alex.id)
        for method in sorted((rule.methods or set()) & {"GET", "POST"}):
            answer = client.open(url, method=method, data={"csrf_token": csrf(client)})
            assert answer.status_code == 403, f"{method} {url}: {answer.status_code}"
    assert db.scalar(select(AuditEvent.id)) is None  # nothing happened


def test_admin_opens_every_page_and_other_orgs_ids_are_404(app, client, sandbox, db):
    sign_in_for_token(app.test_client(), sandbox, OLGA)
    landed = web_sign_in(client, sandbox, ALEX)
    assert landed.status_code == 302 and landed.headers["Location"] == "/admin/"
    alex, olga = _user(db, ALEX), _user(db, OLGA)
    for rule in admin_rules(app):
        if "GET" not in (rule.methods or ()):
            continue
        own = client.get(_url(rule, alex.id))
        # The consent return refuses an answer it did not start (tested in test_admin_pages).
        consent_returns = ("admin.consent_done", "admin.app_consent_done")
        expected = 400 if rule.endpoint in consent_returns else 200
        assert own.status_code == expected, f"GET {rule.rule}: {own.status_code}"
        if "user_id" in rule.arguments:
            other = client.get(_url(rule, olga.id))
            assert other.status_code == 404, f"GET {rule.rule} with another org's id"
            assert OLGA.email not in other.get_data(as_text=True)


def test_bearer_admin_json_endpoints_still_work(app, client, sandbox):
    token = sign_in_for_token(client, sandbox, ALEX)
    answer = client.get("/admin/api/sync/health", headers={"Authorization": f"Bearer {token}"})
    assert answer.status_code == 200 and answer.json["users"]
    bianca = sign_in_for_token(client, sandbox, BIANCA)
    refused = client.get("/admin/api/sync/health", headers={"Authorization": f"Bearer {bianca}"})
    assert refused.status_code == 403


def test_losing_the_directory_role_removes_only_the_role_it_gave(app, client, sandbox, db):
    sign_in_for_token(client, sandbox, ALEX)
    sign_in_for_token(client, sandbox, BIANCA)
    alex, bianca = _user(db, ALEX), _user(db, BIANCA)
    assert alex.is_admin and alex.admin_by_directory and not alex.admin_by_grant
    # An explicit grant for Bianca; both then lose (or never had) the directory role.
    web_sign_in(client, sandbox, ALEX)
    answer = client.post(
        "/admin/users/action",
        data={"csrf_token": csrf(client), "action": "make_admin", "selected": BIANCA.object_id},
    )
    assert answer.status_code == 302
    db.expire_all()
    assert _user(db, BIANCA).is_admin
    sandbox.control(
        "/_sandbox/identity/roles",
        {"tenant_id": ALEX.tenant_id, "object_id": ALEX.object_id, "wids": []},
    )
    sandbox.control(
        "/_sandbox/identity/roles",
        {"tenant_id": BIANCA.tenant_id, "object_id": BIANCA.object_id, "wids": [GLOBAL_ADMIN_ROLE]},
    )
    sign_in_for_token(app.test_client(), sandbox, ALEX)
    sign_in_for_token(app.test_client(), sandbox, BIANCA)
    db.expire_all()
    assert not _user(db, ALEX).is_admin  # only the directory made him one
    bianca = _user(db, BIANCA)
    assert bianca.is_admin and bianca.admin_by_grant and bianca.admin_by_directory
    sandbox.control(
        "/_sandbox/identity/roles",
        {"tenant_id": BIANCA.tenant_id, "object_id": BIANCA.object_id, "wids": []},
    )
    sign_in_for_token(app.test_client(), sandbox, BIANCA)
    db.expire_all()
    assert _user(db, BIANCA).is_admin  # the grant holds
    granted = db.scalar(select(AuditEvent).where(AuditEvent.action == "role.granted"))
    assert granted.actor == ALEX.email and granted.target == BIANCA.email
    assert granted.before["role"] == "user" and granted.after["role"] == "admin"


def test_cli_grant_list_revoke(app, client, sandbox, db):
    sign_in_for_token(client, sandbox, BIANCA)
    runner = app.test_cli_runner()
    result = runner.invoke(args=["admin", "grant", BIANCA.email.upper()])
    assert result.exit_code == 0, result.output
    db.expire_all()
    assert _user(db, BIANCA).is_admin
    listed = runner.invoke(args=["admin", "list"])
    assert BIANCA.email in listed.output and "grant" in listed.output
    result = runner.invoke(args=["admin", "revoke", BIANCA.email])
    assert result.exit_code == 0, result.output
    db.expire_all()
    assert not _user(db, BIANCA).is_admin
    missing = runner.invoke(args=["admin", "grant", "nobody@courier-demo.test"])
    assert missing.exit_code != 0 and "signed in" in missing.output
    actions = [e.action for e in db.scalars(select(AuditEvent).order_by(AuditEvent.id))]
    assert actions == ["role.granted", "role.removed"]
    assert {e.actor for e in db.scalars(select(AuditEvent))} == {"command line (flask admin)"}


def test_each_audit_event_is_also_a_structured_log_line(app, client, sandbox, db, caplog):
    sign_in_for_token(client, sandbox, BIANCA)
    with caplog.at_level("INFO", logger="courier.audit"):
        app.test_cli_runner().invoke(args=["admin", "grant", BIANCA.email])
    record = next(r for r in caplog.records if r.name == "courier.audit")
    stored = db.scalar(select(AuditEvent))
    assert (record.action, record.actor, record.target_id) == (
        "role.granted",
        stored.actor,
        stored.target_id,
    )
    assert record.before == stored.before and record.after == stored.after
    assert record.org_id == stored.org_id and record.audit is True
