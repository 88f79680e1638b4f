"""Cross-tenant isolation over every route of the app.

Two organisations sign in for real (their admins, so nothing is refused for lack of a role).
Then, for every rule in `app.url_map` — including routes added later — the test calls it as
organisation A with identifiers of organisation B, authenticated both ways the app accepts
(bearer session token and cookie session), and requires:
  - routes with id variables: a refusal (400/403/404/409/422), never 2xx or 5xx;
  - every route: nothing of B (tenant id, object ids, emails, names, builder markers) in the
    body or a redirect;
  - the same route with A's own ids is not refused for authentication (401) — so the check
    cannot pass vacuously.
How ids are built per variable name, and which endpoints are public: isolation_registry.py.
"""

from __future__ import annotations

import pytest
from flask import jsonify
from sqlalchemy import select
from werkzeug.routing import AnyConverter, Rule

from server.auth.decorators import COOKIE_TOKEN_KEY, api_login_required
from server.auth.sessions import issue_session
from server.db import get_session
from server.models.tenancy import User
from server.sandbox.directory import DEMO_TENANT_ID, DEMO_USERS, OTHER_TENANT_ID
from tests.conftest import make_test_app
from tests.integration.isolation_registry import ID_BUILDERS, OrgSide, is_public
from tests.integration.signin_helpers import sign_in_for_token

REFUSALS = {400, 403, 404, 405, 409, 422}
ALEX = next(u for u in DEMO_USERS if u.tenant_id == DEMO_TENANT_ID)
OLGA = next(u for u in DEMO_USERS if u.tenant_id == OTHER_TENANT_ID)
METHODS = ("GET", "POST", "PUT", "PATCH", "DELETE")


@pytest.fixture
def app_config(sandbox):
    return sandbox.settings()


def _side(db, directory_user) -> OrgSide:
    user = db.scalar(select(User).where(User.object_id == directory_user.object_id))
    side = OrgSide(org=user.organisation, user=user, db=db)
    side.markers |= {user.tenant_id, user.object_id, user.email, user.display_name}
    return side


@pytest.fixture
def two_orgs(client, sandbox, db):
    sign_in_for_token(client, sandbox, ALEX)
    sign_in_for_token(client, sandbox, OLGA)
    a, b = _side(db, ALEX), _side(db, OLGA)
    assert a.org.id != b.org.id and a.user.is_admin and b.user.is_admin
    return a, b


def _choice_sets(rule: Rule) -> list[dict]:
    """Every combination of the rule's choice variables (`<any(a, b):kind>`)."""
    combos: list[dict] = [{}]
    for name, converter in rule._converters.items():
        if isinstance(converter, AnyConverter):
            choices = sorted(converter.items) if hasattr(converter, "items") else []
            combos = [{**c, name: choice} for c in combos for choice in choices] or combos
    return combos


def _url_for(rule: Rule, side: OrgSide, choices: dict, problems: list[str]) -> str | None:
    values = dict(choices)
    for name in sorted(rule.arguments - set(choices)):
        builder = ID_BUILDERS.get(name)
        if builder is None:
            problems.append(
                f"route {rule.rule} (endpoint {rule.endpoint}) has the URL variable <{name}> "
                "that the isolation test cannot fill: register a builder for it in "
                "tests/integration/isolation_registry.py (see its docstring)"
            )
            return None
        values[name] = builder(side, rule, values)
    return rule.build(values, append_unknown=False)[1]


def _body_with_ids(side: OrgSide) -> dict:
    """For routes without URL variables: B's ids under every conventional name."""
    return {
        "org_id": side.org.id,
        "user_id": side.user.id,
        "tenant_id": side.org.tenant_id,
        "object_id": side.user.object_id,
    }


def _call(app, method: str, url: str, as_side: OrgSide, body: dict | None):
    client = app.test_client()
    token = issue_session(as_side.user)  # fresh: a route may end the session it is called with
    with client.session_transaction() as session:
        session[COOKIE_TOKEN_KEY] = token
        session["csrf_token"] = "isolation-test"
    headers = {"Authorization": f"Bearer {token}", "X-CSRF-Token": "isolation-test"}
    return client.open(url, method=method, headers=headers, json=body if method != "GET" else None)


def _leaks(response, other: OrgSide) -> list[str]:
    text = response.get_data(as_text=True) + response.headers.get("Location", "")
    return sorted(m for m in other.markers if m and m in text)


def check_routes(app, mine: OrgSide, other: OrgSide) -> list[str]:
    problems: list[str] = []
    for rule in sorted(app.url_map.iter_rules(), key=lambda r: r.rule):
        if is_public(rule.endpoint):
            continue
        for choices in _choice_sets(rule):
            for method in METHODS:
                if method in (rule.methods or ()):
                    _check_one(app, rule, choices, method, mine, other, problems)
    return problems


def _check_one(app, rule, choices, method, mine, other, problems) -> None:
    label = f"{method} {rule.rule} {choices or ''} ({rule.endpoint})"
    url = _url_for(rule, other, choices, problems)
    if url is None:
        return
    has_ids = bool(rule.arguments - set(choices))
    body = None if has_ids else _body_with_ids(other)
    response = _call(app, method, url, mine, body)
    leaked = _leaks(response, other)
    if leaked:
        problems.append(f"{label}: response shows the other organisation's {leaked}")
    if has_ids and response.status_code not in REFUSALS:
        problems.append(
            f"{label} with the other organisation's ids answered "
            f"{response.status_code}, expected a refusal"
        )
    if method == "GET":
        own_url = _url_for(rule, mine, choices, problems)
        own = _call(app, method, own_url, mine, None) if own_url else None
        if own is not None and own.status_code == 401:
            problems.append(
                f"{label}: refused our own credentials (401), so the check would be vacuous"
            )


def test_every_route_refuses_the_other_organisations_ids(app, two_orgs):
    a, b = two_orgs
    problems = check_routes(app, a, b) + check_routes(app, b, a)
    assert not problems, "\n".join(problems)


def test_the_check_catches_a_leaky_route(app, two_orgs):
    """A deliberately broken route (loads any user by id, ignoring the organisation) must be
    reported — proof that the walk above is not vacuous."""
    a, b = two_orgs
    canary_app = make_test_app(
        app.config["DATABASE_URL"],
        app.config["REDIS_URL"],
        **{k: app.config[k] for k in ("MS_AUTHORITY_HOST", "CA_BUNDLE")},
    )

    @api_login_required
    def leaky(user_id: int):
        user = get_session().get(User, user_id)
        return jsonify({"email": user.email if user else None})

    canary_app.add_url_rule("/api/_isolation_canary/<int:user_id>", "isolation_canary", leaky)
    with canary_app.app_context():
        problems = [p for p in check_routes(canary_app, a, b) if "isolation_canary" in p]
    canary_app.extensions["db_engine"].dispose()
    assert any("expected a refusal" in p for p in problems), problems
    assert any(b.user.email in p for p in problems), problems


def test_api_me_reports_only_the_callers_organisation(client, two_orgs):
    a, b = two_orgs
    token = issue_session(a.user)
    me = client.get("/api/me", headers={"Authorization": f"Bearer {token}"}).json
    assert me["organisation"]["tenant_id"] == a.org.tenant_id
    assert b.org.tenant_id not in str(me)


def test_admin_required_never_trusts_an_identity_left_on_g(app, two_orgs):
    """`g` belongs to the app context, which several requests can share; a user left there by
    an earlier request must not authenticate the next one."""
    from flask import g

    from server.auth.decorators import admin_required

    a, _ = two_orgs
    fresh = make_test_app(app.config["DATABASE_URL"], app.config["REDIS_URL"])

    @admin_required
    def admin_only():
        return jsonify({"user": g.user.id})

    fresh.add_url_rule("/admin/api/_stale_identity", "stale_identity", admin_only)
    with fresh.app_context():
        g.user = get_session().get(User, a.user.id)  # an admin, from "an earlier request"
        response = fresh.test_client().get("/admin/api/_stale_identity")
    fresh.extensions["db_engine"].dispose()
    assert response.status_code == 401
