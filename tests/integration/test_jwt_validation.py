"""Microsoft-issued access tokens for our API: the good one is accepted, every bad one → 401.

Good tokens come from the sandbox through MSAL (the signed-in user's refresh token redeemed for
our API's scope), the way nested app authentication will bring them. Bad ones are minted by the
sandbox's /_sandbox/identity/mint switch (its real signing key, chosen claims) or forged here.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import time

import jwt
import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa
from sqlalchemy import select

from server.auth import jwt_validation
from server.auth.msal_client import build_msal_app
from server.auth.tokens import load_cache
from server.models.connections import MicrosoftConnection
from server.models.tenancy import User
from server.sandbox.directory import DEMO_TENANT_ID, DEMO_USERS, OTHER_TENANT_ID
from tests.integration.signin_helpers import sign_in_for_token

BIANCA = DEMO_USERS[1]
API_AUDIENCE = "api://courier-dev-client"


@pytest.fixture
def app_config(sandbox):
    return sandbox.settings()


def b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def call_me(client, token: str):
    return client.get("/api/me", headers={"Authorization": f"Bearer {token}"})


def assert_refused(response) -> None:
    assert response.status_code == 401, response.json
    assert response.json["error"] == "unauthorized"
    assert isinstance(response.json["message"], str) and response.json["message"]


def api_token_through_msal(db, user: User) -> str:
    connection = db.scalar(
        select(MicrosoftConnection).where(MicrosoftConnection.user_id == user.id)
    )
    msal_app = build_msal_app(load_cache(connection))
    account = msal_app.get_accounts()[0]
    result = msal_app.acquire_token_silent([f"{API_AUDIENCE}/access_as_user"], account=account)
    assert result and "access_token" in result, result
    return result["access_token"]


def mint(sandbox, claims: dict | None = None, headers: dict | None = None) -> str:
    return sandbox.control(
        "/_sandbox/identity/mint", {"claims": claims or {}, "headers": headers or {}}
    )["token"]


@pytest.fixture
def signed_in(client, sandbox, db):
    sign_in_for_token(client, sandbox, BIANCA)
    return db.scalar(select(User).where(User.object_id == BIANCA.object_id))


def test_msal_issued_token_for_our_api_is_accepted(app, client, sandbox, db, signed_in):
    token = api_token_through_msal(db, signed_in)
    # As in Microsoft's v2.0 tokens, the audience is our application id, not the api:// URI.
    unverified = jwt.decode(token, options={"verify_signature": False})
    assert unverified["aud"] == app.config["MS_CLIENT_ID"]
    me = call_me(client, token)
    assert me.status_code == 200
    assert me.json["id"] == signed_in.id


def test_the_application_id_uri_is_accepted_as_audience(client, sandbox):
    assert call_me(client, mint(sandbox, {"aud": API_AUDIENCE})).status_code == 200


def test_an_id_token_is_not_an_access_token(client, sandbox, db, signed_in):
    # Same issuer, keys and audience (our client id) as an access token, but no `scp`.
    connection = db.scalar(
        select(MicrosoftConnection).where(MicrosoftConnection.user_id == signed_in.id)
    )
    cache = json.loads(load_cache(connection).serialize())
    id_token = next(iter(cache["IdToken"].values()))["secret"]
    assert_refused(call_me(client, id_token))


def test_minted_valid_token_is_accepted_and_creates_the_user(client, sandbox, db):
    # Nested app authentication: the first call may come before any server-side sign-in.
    me = call_me(client, mint(sandbox))
    assert me.status_code == 200
    assert me.json["organisation"]["tenant_id"] == DEMO_TENANT_ID


def test_a_graph_token_is_not_a_token_for_our_api(client, sandbox, db, signed_in):
    from server.auth.tokens import graph_token_for

    assert_refused(call_me(client, graph_token_for(signed_in)))


def test_token_without_our_scope_is_refused(client, sandbox):
    assert_refused(call_me(client, mint(sandbox, {"scp": "User.Read"})))


def test_wrong_audience(client, sandbox):
    assert_refused(call_me(client, mint(sandbox, {"aud": "api://someone-else"})))


@pytest.mark.parametrize(
    "issuer",
    [
        "https://login.microsoftonline.com/{tid}/v2.0",  # right shape, other host
        "{base}/" + OTHER_TENANT_ID + "/v2.0",  # another tenant's issuer
        "{base}/{tid}/",  # v1-looking variant
        "{base}/{{tenantid}}/v2.0",  # the template itself
    ],
)
def test_wrong_issuer(client, sandbox, issuer):
    iss = issuer.format(base=sandbox.url, tid=DEMO_TENANT_ID)
    assert_refused(call_me(client, mint(sandbox, {"iss": iss})))


@pytest.mark.parametrize("tid", ["organizations", "common", "not-a-guid", DEMO_TENANT_ID.upper()])
def test_tid_not_a_guid(client, sandbox, tid):
    assert_refused(call_me(client, mint(sandbox, {"tid": tid, "iss": f"{sandbox.url}/{tid}/v2.0"})))


def test_expired(client, sandbox):
    now = int(time.time())
    token = mint(sandbox, {"iat": now - 7200, "nbf": now - 7200, "exp": now - 600})
    assert_refused(call_me(client, token))


def test_not_yet_valid(client, sandbox):
    now = int(time.time())
    assert_refused(call_me(client, mint(sandbox, {"nbf": now + 600, "exp": now + 4200})))


@pytest.mark.parametrize("missing", ["exp", "nbf", "oid", "tid"])
def test_required_claims(client, sandbox, missing):
    assert_refused(call_me(client, mint(sandbox, {missing: None})))


def test_alg_none(client, sandbox):
    good = mint(sandbox)
    _, payload, _ = good.split(".")
    header = b64(json.dumps({"alg": "none", "typ": "JWT"}).encode())
    assert_refused(call_me(client, f"{header}.{payload}."))


def _public_key_pem(sandbox) -> bytes:
    config = sandbox.http.get(
        f"{sandbox.url}/organizations/v2.0/.well-known/openid-configuration"
    ).json()
    jwk = sandbox.http.get(config["jwks_uri"]).json()["keys"][0]
    key = jwt.PyJWK.from_dict(jwk, algorithm="RS256").key
    return key.public_bytes(
        serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
    ), jwk["kid"]


def test_hs256_signed_with_the_public_key(client, sandbox):
    pem, kid = _public_key_pem(sandbox)
    _, payload, _ = mint(sandbox).split(".")
    header = b64(json.dumps({"alg": "HS256", "typ": "JWT", "kid": kid}).encode())
    signature = hmac.new(pem, f"{header}.{payload}".encode(), hashlib.sha256).digest()
    assert_refused(call_me(client, f"{header}.{payload}.{b64(signature)}"))


def test_unknown_key_id_with_the_sandbox_key(client, sandbox):
    assert_refused(call_me(client, mint(sandbox, headers={"kid": "no-such-key"})))


def test_signed_by_a_stranger_key(client, sandbox):
    stranger = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    claims = jwt.decode(mint(sandbox), options={"verify_signature": False})
    assert_refused(
        call_me(
            client, jwt.encode(claims, stranger, algorithm="RS256", headers={"kid": "stranger"})
        )
    )


def test_stranger_key_reusing_a_real_kid(client, sandbox):
    _, kid = _public_key_pem(sandbox)
    stranger = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    claims = jwt.decode(mint(sandbox), options={"verify_signature": False})
    assert_refused(
        call_me(client, jwt.encode(claims, stranger, algorithm="RS256", headers={"kid": kid}))
    )


def test_tampered_payload(client, sandbox):
    header, payload, signature = mint(sandbox).split(".")
    claims = json.loads(base64.urlsafe_b64decode(payload + "=" * (-len(payload) % 4)))
    claims["oid"] = DEMO_USERS[0].object_id  # try to become the admin
    forged = b64(json.dumps(claims).encode())
    assert_refused(call_me(client, f"{header}.{forged}.{signature}"))


@pytest.mark.parametrize("garbage", ["", "eyJ", "a.b.c", "Bearer", "cs_not-a-session"])
def test_garbage(client, sandbox, garbage):
    assert_refused(call_me(client, garbage))


def test_no_header_or_other_scheme(client, sandbox):
    assert_refused(client.get("/api/me"))
    token = mint(sandbox)
    assert_refused(client.get("/api/me", headers={"Authorization": f"Basic {token}"}))


def test_key_rollover_refreshes_the_cached_key_set(client, sandbox, monkeypatch):
    assert call_me(client, mint(sandbox)).status_code == 200  # key set now cached
    sandbox.control("/_sandbox/identity/rotate-keys")
    monkeypatch.setattr(jwt_validation, "JWKS_MIN_REFRESH_INTERVAL", 0)
    assert call_me(client, mint(sandbox)).status_code == 200  # unknown kid → re-fetched


def test_unknown_kid_refetch_is_throttled(app, client, sandbox):
    assert call_me(client, mint(sandbox)).status_code == 200
    keyset = next(iter(app.extensions["ms_jwks"].values()))
    fetched_at = keyset.fetched_at
    for _ in range(3):
        assert_refused(call_me(client, mint(sandbox, headers={"kid": "random"})))
    assert keyset.fetched_at == fetched_at  # random key ids cannot make us hammer the JWKS


def test_allowed_tenants_applies_to_bearer_tokens(app, client, sandbox):
    app.config["ALLOWED_TENANTS"] = (OTHER_TENANT_ID, "11111111-2222-4333-8444-555555555555")
    response = call_me(client, mint(sandbox))
    assert response.status_code == 403 and response.json["error"] == "tenant_not_allowed"


def test_unreachable_signing_keys_are_not_a_401(app, client, sandbox):
    from server.redis_server import free_port

    token = mint(sandbox)
    app.config["MS_AUTHORITY_HOST"] = f"https://127.0.0.1:{free_port()}"  # nothing listens
    response = call_me(client, token)
    assert response.status_code == 503
    assert response.json["error"] == "identity_unavailable" and response.json["message"]
