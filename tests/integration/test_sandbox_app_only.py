"""The sandbox's app-only side over HTTPS: the client-credentials grant with a secret or a
certificate's signed assertion (each documented check refused on its own), roles only after
the tenant's consent, and app-only Graph reads limited by roles and the access policy."""

from __future__ import annotations

import time
import uuid

import jwt
import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization

from server.sandbox.directory import DEMO_USERS, OTHER_TENANT_ID
from server.sandbox.identity_app import b64url
from tests.integration.app_mode_helpers import make_certificate

ALEX, BIANCA = DEMO_USERS[0], DEMO_USERS[1]
TENANT = ALEX.tenant_id
CLIENT = "courier-dev-client"
SCOPE = "https://graph.microsoft.com/.default"


def _token_url(sandbox, tenant=TENANT) -> str:
    return f"{sandbox.url}/{tenant}/oauth2/v2.0/token"


def _with_secret(sandbox, secret="courier-dev-secret", tenant=TENANT):
    return sandbox.http.post(
        _token_url(sandbox, tenant),
        data={
            "grant_type": "client_credentials",
            "client_id": CLIENT,
            "client_secret": secret,
            "scope": SCOPE,
        },
        timeout=30,
    )


@pytest.fixture
def cert(sandbox, tmp_path):
    made = make_certificate(tmp_path)
    sandbox.control("/_sandbox/identity/app-certificates", {"certificate_pem": made.pem})
    return made


def _assertion(sandbox, cert, headers=None, **claims) -> str:
    with open(cert.key_path, "rb") as f:
        key = serialization.load_pem_private_key(f.read(), password=None)
    x5t_s256 = b64url(
        x509.load_pem_x509_certificate(cert.pem.encode()).fingerprint(hashes.SHA256())
    )
    now = int(time.time())
    payload = {
        "aud": _token_url(sandbox),
        "iss": CLIENT,
        "sub": CLIENT,
        "iat": now,
        "nbf": now,
        "exp": now + 600,
        "jti": str(uuid.uuid4()),
        **claims,
    }
    payload = {k: v for k, v in payload.items() if v is not None}
    return jwt.encode(
        payload, key, algorithm="PS256", headers={"x5t#S256": x5t_s256, **(headers or {})}
    )


def _with_assertion(sandbox, assertion: str):
    return sandbox.http.post(
        _token_url(sandbox),
        data={
            "grant_type": "client_credentials",
            "client_id": CLIENT,
            "client_assertion_type": "urn:ietf:params:oauth:client-assertion-type:jwt-bearer",
            "client_assertion": assertion,
            "scope": SCOPE,
        },
        timeout=30,
    )


def _claims(answer) -> dict:
    assert answer.status_code == 200, answer.text
    return jwt.decode(answer.json()["access_token"], options={"verify_signature": False})


def test_roles_reach_app_tokens_only_after_the_tenant_consents(sandbox):
    assert "roles" not in _claims(_with_secret(sandbox))
    sandbox.control("/_sandbox/identity/app-grant", {"tenant_id": TENANT})
    roles = _claims(_with_secret(sandbox))["roles"]
    assert set(roles) == {"Mail.Read", "Calendars.Read", "User.Read.All", "GroupMember.Read.All"}
    # Consent is per tenant.
    assert "roles" not in _claims(_with_secret(sandbox, tenant=OTHER_TENANT_ID))
    sandbox.control("/_sandbox/identity/revoke-app-grant", {"tenant_id": TENANT})
    assert "roles" not in _claims(_with_secret(sandbox))


def test_the_admin_consent_page_grants_the_application_permissions(sandbox):
    consent = sandbox.http.post(
        f"{sandbox.url}/{TENANT}/v2.0/adminconsent",
        params={
            "client_id": CLIENT,
            "scope": SCOPE,
            "redirect_uri": "http://127.0.0.1:8000/admin/deployment/consent/done",
            "state": "s1",
        },
        data={"decision": "accept"},
        allow_redirects=False,
        timeout=30,
    )
    assert consent.status_code == 302 and "admin_consent=True" in consent.headers["Location"]
    assert "Mail.Read" in _claims(_with_secret(sandbox))["roles"]


def test_a_wrong_secret_and_a_common_endpoint_are_refused(sandbox):
    wrong = _with_secret(sandbox, secret="nope")
    assert wrong.status_code == 401 and wrong.json()["error"] == "invalid_client"
    assert "AADSTS7000215" in wrong.json()["error_description"]
    common = _with_secret(sandbox, tenant="organizations")
    assert common.status_code == 400 and "AADSTS90009" in common.json()["error_description"]


def test_a_valid_assertion_gets_a_token(sandbox, cert):
    assert _claims(_with_assertion(sandbox, _assertion(sandbox, cert)))["idtyp"] == "app"


@pytest.mark.parametrize(
    ("change", "code"),
    [
        ({"aud": "https://login.example/other/oauth2/v2.0/token"}, "AADSTS700023"),
        ({"iss": "someone-else"}, "AADSTS700021"),
        ({"sub": "someone-else"}, "AADSTS700021"),
        ({"exp": int(time.time()) - 3600, "iat": int(time.time()) - 4000}, "AADSTS700024"),
        ({"nbf": int(time.time()) + 3600}, "AADSTS700024"),
        ({"jti": None}, "AADSTS50027"),
        ({"headers": {"x5t#S256": b64url(b"\x00" * 32)}}, "AADSTS700027"),
    ],
)
def test_each_documented_check_of_the_assertion_refuses(sandbox, cert, change, code):
    change = dict(change)
    assertion = _assertion(sandbox, cert, headers=change.pop("headers", None), **change)
    answer = _with_assertion(sandbox, assertion)
    assert answer.status_code == 401 and answer.json()["error"] == "invalid_client"
    assert code in answer.json()["error_description"]


def test_an_assertion_signed_by_another_key_is_refused(sandbox, cert, tmp_path):
    other = make_certificate(tmp_path, "other")
    forged = _assertion(sandbox, other, headers={"x5t#S256": _header(sandbox, cert)})
    answer = _with_assertion(sandbox, forged)
    assert answer.status_code == 401
    assert "AADSTS700027" in answer.json()["error_description"]


def _header(sandbox, cert) -> str:
    return jwt.get_unverified_header(_assertion(sandbox, cert))["x5t#S256"]


def _graph(sandbox, token, path, method="GET", **kwargs):
    return sandbox.http.request(
        method,
        f"{sandbox.url}/graph/v1.0{path}",
        headers={"Authorization": f"Bearer {token}"},
        timeout=30,
        **kwargs,
    )


def test_app_only_graph_reads_any_mailbox_of_the_tenant_within_roles_and_policy(sandbox):
    sandbox.control("/_sandbox/graph/configure", {"messages": 30, "events": 4, "seed": 5})
    no_roles = _with_secret(sandbox).json()["access_token"]
    refused = _graph(sandbox, no_roles, f"/users/{ALEX.object_id}/mailFolders/inbox")
    assert refused.status_code == 403 and refused.json()["error"]["code"] == "ErrorAccessDenied"

    sandbox.control("/_sandbox/identity/app-grant", {"tenant_id": TENANT, "roles": ["Mail.Read"]})
    mail_only = _with_secret(sandbox).json()["access_token"]
    for person in (ALEX, BIANCA):
        inbox = _graph(sandbox, mail_only, f"/users/{person.object_id}/mailFolders/inbox")
        assert inbox.status_code == 200, inbox.text
    calendar = _graph(
        sandbox,
        mail_only,
        f"/users/{ALEX.object_id}/calendarView/delta"
        "?startDateTime=2026-01-01T00:00:00Z&endDateTime=2027-01-01T00:00:00Z",
    )
    assert calendar.status_code == 403
    profile = _graph(sandbox, mail_only, f"/users/{ALEX.object_id}")
    assert profile.json()["error"]["code"] == "Authorization_RequestDenied"
    me = _graph(sandbox, mail_only, "/me")
    assert me.status_code == 400
    olga = next(u for u in DEMO_USERS if u.tenant_id == OTHER_TENANT_ID)
    assert _graph(sandbox, mail_only, f"/users/{olga.object_id}/mailFolders").status_code == 403

    # The access policy: only Bianca's mailbox, for single requests and inside $batch alike.
    sandbox.control(
        "/_sandbox/graph/access-policy", {"tenant_id": TENANT, "allowed": [BIANCA.object_id]}
    )
    outside = _graph(sandbox, mail_only, f"/users/{ALEX.object_id}/mailFolders/inbox")
    assert outside.status_code == 403
    assert outside.json()["error"] == {
        "code": "ErrorAccessDenied",
        "message": "Access to OData is disabled.",
        "innerError": outside.json()["error"]["innerError"],
    }
    batch = _graph(
        sandbox,
        mail_only,
        "/$batch",
        method="POST",
        json={
            "requests": [
                {"id": "a", "method": "GET", "url": f"/users/{ALEX.object_id}/mailFolders/inbox"},
                {"id": "b", "method": "GET", "url": f"/users/{BIANCA.object_id}/mailFolders/inbox"},
            ]
        },
    )
    statuses = {r["id"]: r["status"] for r in batch.json()["responses"]}
    assert statuses == {"a": 403, "b": 200}
    sandbox.control("/_sandbox/graph/access-policy", {"tenant_id": TENANT, "allowed": None})
    again = _graph(sandbox, mail_only, f"/users/{ALEX.object_id}/mailFolders/inbox")
    assert again.status_code == 200
