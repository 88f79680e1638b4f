"""Sign-in with Microsoft end to end, against the sandbox identity provider over HTTPS."""

from __future__ import annotations

import pytest
from sqlalchemy import select

from server.auth.tokens import NeedsReauth, graph_token_for
from server.models.connections import MicrosoftConnection
from server.models.tenancy import Organisation, User
from server.sandbox.directory import DEMO_TENANT_ID, DEMO_USERS, OTHER_TENANT_ID
from server.sandbox.identity_state import verify_access_token
from tests.integration.signin_helpers import (
    browser_sign_in,
    one_time_code,
    pick_user_on_authorize_page,
    sign_in_for_token,
)

ALEX, BIANCA = DEMO_USERS[0], DEMO_USERS[1]
OLGA = next(u for u in DEMO_USERS if u.tenant_id == OTHER_TENANT_ID)


@pytest.fixture
def app_config(sandbox):
    return sandbox.settings()


def bearer(token: str) -> dict:
    return {"Authorization": f"Bearer {token}"}


def test_sign_in_creates_org_and_user_and_calls_the_api(client, sandbox, db):
    token = sign_in_for_token(client, sandbox, BIANCA)

    me = client.get("/api/me", headers=bearer(token))
    assert me.status_code == 200
    assert me.json["email"] == BIANCA.email
    assert me.json["organisation"]["tenant_id"] == DEMO_TENANT_ID
    assert me.json["role"] == "user"
    assert me.json["microsoft"] == {"connected": True, "needs_reauth": False}
    user = db.scalar(select(User).where(User.object_id == BIANCA.object_id))
    assert user.tenant_id == DEMO_TENANT_ID
    assert db.scalar(select(Organisation).where(Organisation.tenant_id == DEMO_TENANT_ID))


def test_directory_admin_role_comes_from_wids(client, sandbox):
    token = sign_in_for_token(client, sandbox, ALEX)
    assert client.get("/api/me", headers=bearer(token)).json["role"] == "admin"


def test_signing_in_again_keeps_the_same_user(client, sandbox, db):
    sign_in_for_token(client, sandbox, BIANCA)
    sign_in_for_token(client, sandbox, BIANCA)
    assert len(db.scalars(select(User)).all()) == 1


def test_graph_token_is_valid_for_the_sandbox_graph(app, client, sandbox, db):
    sign_in_for_token(client, sandbox, BIANCA)
    user = db.scalar(select(User).where(User.object_id == BIANCA.object_id))
    token = graph_token_for(user)
    with sandbox.app.app_context():
        claims = verify_access_token(token)
    assert claims["oid"] == BIANCA.object_id
    assert set(claims["scp"].split()) >= {"Mail.Read", "Calendars.Read"}


def test_refresh_after_the_access_token_expires(app, client, sandbox, db):
    # Tokens live 60 s: MSAL treats a token with under 5 minutes left as expired.
    sandbox.control("/_sandbox/identity/settings", {"access_token_lifetime": 60})
    sign_in_for_token(client, sandbox, BIANCA)
    user = db.scalar(select(User).where(User.object_id == BIANCA.object_id))
    before = sandbox.control("/_sandbox/identity/stats", method="GET")["grant_counts"]

    first = graph_token_for(user)
    second = graph_token_for(user)

    after = sandbox.control("/_sandbox/identity/stats", method="GET")["grant_counts"]
    assert after.get("refresh_token", 0) - before.get("refresh_token", 0) == 2
    assert first != second


def test_expired_token_switch_then_forced_refresh(app, client, sandbox, db):
    sign_in_for_token(client, sandbox, BIANCA)
    user = db.scalar(select(User).where(User.object_id == BIANCA.object_id))
    cached = graph_token_for(user)
    assert graph_token_for(user) == cached  # served from the cache
    sandbox.control("/_sandbox/identity/expire-access-tokens")
    with sandbox.app.app_context(), pytest.raises(Exception, match="expired"):
        verify_access_token(cached)
    fresh = graph_token_for(user, force_refresh=True)
    assert fresh != cached
    with sandbox.app.app_context():
        assert verify_access_token(fresh)["oid"] == BIANCA.object_id


def test_revoked_grant_raises_needs_reauth_and_flags_the_connection(app, client, sandbox, db):
    sandbox.control("/_sandbox/identity/settings", {"access_token_lifetime": 60})
    token = sign_in_for_token(client, sandbox, BIANCA)
    user = db.scalar(select(User).where(User.object_id == BIANCA.object_id))
    sandbox.control(
        "/_sandbox/identity/revoke-grant",
        {"tenant_id": BIANCA.tenant_id, "object_id": BIANCA.object_id},
    )

    with pytest.raises(NeedsReauth) as raised:
        graph_token_for(user)
    assert raised.value.reason == "invalid_grant"
    db.expire_all()
    connection = db.scalar(
        select(MicrosoftConnection).where(MicrosoftConnection.user_id == user.id)
    )
    assert connection.needs_reauth and connection.needs_reauth_since is not None
    assert "invalid_grant" in connection.last_error
    with pytest.raises(NeedsReauth):
        graph_token_for(user)  # stays flagged until the user signs in again
    assert client.get("/api/me", headers=bearer(token)).json["microsoft"]["needs_reauth"] is True

    sign_in_for_token(client, sandbox, BIANCA)  # signing in again clears it
    assert graph_token_for(user)


def test_sign_out_revokes_the_session(client, sandbox):
    token = sign_in_for_token(client, sandbox, BIANCA)
    assert client.get("/api/me", headers=bearer(token)).status_code == 200
    out = client.post("/auth/api/signout", headers=bearer(token))
    assert out.status_code == 200
    after = client.get("/api/me", headers=bearer(token))
    assert after.status_code == 401
    assert after.json["error"] == "unauthorized" and after.json["message"]


def test_one_time_code_is_single_use(client, sandbox):
    bridge = browser_sign_in(client, sandbox, BIANCA)
    code = one_time_code(bridge.text)
    assert client.post("/auth/api/exchange", json={"code": code}).status_code == 200
    again = client.post("/auth/api/exchange", json={"code": code})
    assert again.status_code == 400 and again.json["error"] == "invalid_code"


def test_bridge_page_hands_the_code_to_the_pane(client, sandbox):
    bridge = browser_sign_in(client, sandbox, BIANCA)
    assert bridge.status_code == 200
    assert "auth/bridge.js" in bridge.text and "Signed in" in bridge.text


def test_web_sign_in_sets_a_cookie_session_and_follows_next(client, sandbox):
    start = client.get("/auth/signin?mode=web&next=/somewhere")
    callback = pick_user_on_authorize_page(sandbox, start.headers["Location"], BIANCA)
    from urllib.parse import urlsplit

    parts = urlsplit(callback)
    answer = client.get(f"{parts.path}?{parts.query}")
    assert answer.status_code == 302 and answer.headers["Location"] == "/somewhere"


def test_next_cannot_redirect_off_site(client, sandbox):
    start = client.get("/auth/signin?mode=web&next=//evil.example/")
    callback = pick_user_on_authorize_page(sandbox, start.headers["Location"], BIANCA)
    from urllib.parse import urlsplit

    parts = urlsplit(callback)
    answer = client.get(f"{parts.path}?{parts.query}")
    assert answer.status_code == 200  # the bridge page, not a redirect to evil.example


def test_callback_from_another_browser_is_refused(app, client, sandbox):
    start = client.get("/auth/signin?mode=dialog")
    callback = pick_user_on_authorize_page(sandbox, start.headers["Location"], BIANCA)
    from urllib.parse import urlsplit

    parts = urlsplit(callback)
    other_browser = app.test_client()
    answer = other_browser.get(f"{parts.path}?{parts.query}")
    assert answer.status_code == 400


def test_cancel_on_the_authorize_page(client, sandbox):
    start = client.get("/auth/signin?mode=dialog")
    page = sandbox.http.get(start.headers["Location"])
    from tests.integration.signin_helpers import parse_forms

    cancel = next(f for f in parse_forms(page.text) if f["fields"].get("action") == "cancel")
    answer = sandbox.http.post(
        start.headers["Location"].split("?")[0], data=cancel["fields"], allow_redirects=False
    )
    from urllib.parse import urlsplit

    parts = urlsplit(answer.headers["Location"])
    result = client.get(f"{parts.path}?{parts.query}")
    assert result.status_code == 400 and b"cancelled" in result.data


def test_allowed_tenants_refuses_other_tenants(app, client, sandbox, db):
    # Two tenants allowed, so the authority stays "organizations" and Olga can try.
    app.config["ALLOWED_TENANTS"] = (DEMO_TENANT_ID, "11111111-2222-4333-8444-555555555555")
    bridge = browser_sign_in(client, sandbox, OLGA)
    assert bridge.status_code == 403
    assert db.scalar(select(Organisation).where(Organisation.tenant_id == OTHER_TENANT_ID)) is None


def test_a_single_allowed_tenant_becomes_the_authority(app, client, sandbox):
    app.config["ALLOWED_TENANTS"] = (DEMO_TENANT_ID,)
    start = client.get("/auth/signin")
    assert f"/{DEMO_TENANT_ID}/oauth2/v2.0/authorize" in start.headers["Location"]
    assert sign_in_for_token(client, sandbox, BIANCA)


def test_org_restriction_list_is_honoured(app, client, sandbox, db):
    from server.models.connections import OrgAllowedUser

    sign_in_for_token(client, sandbox, ALEX)  # creates the organisation; Alex is an admin
    org = db.scalar(select(Organisation).where(Organisation.tenant_id == DEMO_TENANT_ID))
    db.add(OrgAllowedUser(org_id=org.id, object_id=DEMO_USERS[2].object_id, label="Chen"))
    db.commit()
    # The list alone restricts nothing until "only allowed users" is switched on.
    assert browser_sign_in(client, sandbox, BIANCA).status_code == 200
    org.restrict_to_allowed = True
    db.commit()

    assert browser_sign_in(client, sandbox, BIANCA).status_code == 403
    assert browser_sign_in(client, sandbox, DEMO_USERS[2]).status_code == 200  # listed
    assert browser_sign_in(client, sandbox, ALEX).status_code == 200  # admins always


def test_sign_in_is_rate_limited(app, client, sandbox):
    app.config["SIGNIN_RATE_LIMIT_PER_MINUTE"] = 3
    codes = [client.get("/auth/signin").status_code for _ in range(5)]
    assert codes[:3] == [302, 302, 302]
    assert codes[3] == 429
    limited = client.get("/auth/signin")
    assert limited.headers.get("Retry-After")


def test_disconnect_forgets_tokens_and_ends_sessions(app, client, sandbox, db):
    token = sign_in_for_token(client, sandbox, BIANCA)
    user = db.scalar(select(User).where(User.object_id == BIANCA.object_id))
    answer = client.post("/auth/api/disconnect", headers=bearer(token))
    assert answer.status_code == 200 and answer.json == {"disconnected": True}
    assert client.get("/api/me", headers=bearer(token)).status_code == 401
    with pytest.raises(NeedsReauth) as raised:
        graph_token_for(user)
    assert raised.value.reason == "not_connected"


def test_set_allowed_users_replaces_the_list(app, client, sandbox, db):
    from server.auth.identity import allowed_users, set_allowed_users

    sign_in_for_token(client, sandbox, ALEX)
    org = db.scalar(select(Organisation).where(Organisation.tenant_id == DEMO_TENANT_ID))
    set_allowed_users(org, [(BIANCA.object_id, "Bianca"), (BIANCA.object_id.upper(), "dup")])
    assert [u.object_id for u in allowed_users(org)] == [BIANCA.object_id]
    assert browser_sign_in(client, sandbox, DEMO_USERS[2]).status_code == 403
    set_allowed_users(org, [])
    assert browser_sign_in(client, sandbox, DEMO_USERS[2]).status_code == 200


def test_sign_in_uses_pkce_with_s256(client, sandbox):
    from urllib.parse import parse_qs, urlsplit

    query = parse_qs(urlsplit(client.get("/auth/signin").headers["Location"]).query)
    assert query["code_challenge_method"] == ["S256"]
    assert len(query["code_challenge"][0]) >= 43 and query["state"][0]


def test_a_code_issued_for_another_sign_in_is_refused(client, sandbox, db):
    """Code injection: a code obtained for one sign-in (its PKCE challenge) delivered to the
    callback of another sign-in, with that sign-in's valid state. The verifier of the second
    flow does not match the first challenge, so the identity platform refuses the code."""
    from urllib.parse import parse_qs, urlsplit

    first = client.get("/auth/signin?mode=dialog")
    stolen = parse_qs(
        urlsplit(pick_user_on_authorize_page(sandbox, first.headers["Location"], BIANCA)).query
    )
    second = client.get("/auth/signin?mode=dialog")
    state = parse_qs(urlsplit(second.headers["Location"]).query)["state"][0]
    answer = client.get(f"/auth/callback?code={stolen['code'][0]}&state={state}")
    assert answer.status_code == 400
    assert db.scalar(select(User).where(User.object_id == BIANCA.object_id)) is None


def test_forged_state_is_refused(client, sandbox, db):
    from urllib.parse import parse_qs, urlsplit

    start = client.get("/auth/signin?mode=dialog")
    callback = urlsplit(pick_user_on_authorize_page(sandbox, start.headers["Location"], BIANCA))
    code = parse_qs(callback.query)["code"][0]
    answer = client.get(f"/auth/callback?code={code}&state=forged-state")
    assert answer.status_code == 400
    assert db.scalar(select(User).where(User.object_id == BIANCA.object_id)) is None


def test_admin_granted_by_an_admin_is_kept_without_a_directory_role(app, client, sandbox, db):
    from server.auth.identity import grant_admin

    token = sign_in_for_token(client, sandbox, BIANCA)
    assert client.get("/api/me", headers=bearer(token)).json["role"] == "user"
    grant_admin(db.scalar(select(User).where(User.object_id == BIANCA.object_id)))
    token = sign_in_for_token(client, sandbox, BIANCA)  # her token carries no admin `wids`
    assert client.get("/api/me", headers=bearer(token)).json["role"] == "admin"


def test_an_expired_session_is_refused(app, client, sandbox, db):
    from datetime import timedelta

    from server.auth.sessions import hash_token
    from server.models.sessions import ApiSession

    token = sign_in_for_token(client, sandbox, BIANCA)
    row = db.scalar(select(ApiSession).where(ApiSession.token_hash == hash_token(token)))
    row.expires_at = row.expires_at - timedelta(hours=app.config["SESSION_IDLE_HOURS"], seconds=1)
    db.commit()
    after = client.get("/api/me", headers=bearer(token))
    assert after.status_code == 401 and after.json["error"] == "unauthorized"


def test_signing_in_again_in_the_same_browser_ends_the_previous_cookie_session(client, sandbox, db):
    from server.auth.decorators import COOKIE_TOKEN_KEY
    from server.auth.sessions import user_for_session

    browser_sign_in(client, sandbox, BIANCA)
    with client.session_transaction() as cookie:
        first = cookie[COOKIE_TOKEN_KEY]
    browser_sign_in(client, sandbox, ALEX)
    with client.session_transaction() as cookie:
        second = cookie[COOKIE_TOKEN_KEY]
    assert second != first
    assert user_for_session(first) is None
    assert user_for_session(second).object_id == ALEX.object_id


def test_a_guests_home_domain_never_becomes_internal(app, client, sandbox, db):
    from server.auth.identity import sign_in_identity

    sign_in_for_token(client, sandbox, BIANCA)
    org = db.scalar(select(Organisation).where(Organisation.tenant_id == DEMO_TENANT_ID))
    before = sorted(org.domain_names)
    iss = f"{sandbox.url}/{DEMO_TENANT_ID}/v2.0"
    guest = {
        "tid": DEMO_TENANT_ID,
        "oid": "0a1b2c3d-0000-4000-8000-0000000000ee",
        "iss": iss,
        "idp": "https://sts.windows.net/11111111-2222-4333-8444-555555555555/",
        "preferred_username": "jane@customer.example",
    }
    consumer = {
        "tid": DEMO_TENANT_ID,
        "oid": "0a1b2c3d-0000-4000-8000-0000000000ef",
        "iss": iss,
        "preferred_username": "someone@gmail.com",
    }
    assert sign_in_identity(guest).email == "jane@customer.example"
    sign_in_identity(consumer)
    db.expire_all()
    assert sorted(org.domain_names) == before
    assert "customer.example" not in before and "gmail.com" not in before
