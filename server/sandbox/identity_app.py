"""Application permissions in the sandbox tenant: the admin's grant of app roles, the
certificates registered on the app, and Exchange's application access policy.

- App roles reach client-credentials tokens (`roles` claim) only after a tenant admin consents
  (https://learn.microsoft.com/entra/identity-platform/v2-admin-consent: "/.default" grants
  the permissions configured on the registration, application permissions included;
  https://learn.microsoft.com/entra/identity-platform/v2-oauth2-client-creds-grant-flow).
  Revoking the grant (removing the app role assignments) leaves later tokens without roles.
- Certificates: "Certificates & secrets → Upload certificate"
  (https://learn.microsoft.com/entra/identity-platform/certificate-credentials).
- Application access policy (https://learn.microsoft.com/graph/auth-limit-mailbox-access;
  its successor RBAC for Applications: https://learn.microsoft.com/exchange/permissions-exo/application-rbac):
  an app-only token may read only the mailboxes in the allowed set; others get 403
  ErrorAccessDenied "Access to OData is disabled." (the doc's "Handling API errors").

Switches (JSON):
POST /_sandbox/identity/app-grant {tenant_id, client_id?, roles?}   grant (default: all roles)
POST /_sandbox/identity/revoke-app-grant {tenant_id, client_id?}    revoke
POST /_sandbox/identity/app-certificates {certificate_pem, client_id?}   register a certificate
POST /_sandbox/graph/access-policy {tenant_id, allowed: [object ids] | null, rbac?: bool}
     null: no limit; rbac: the limit is RBAC for Applications (Exchange-side grant of the
     allowed mailboxes, valid without the token's Mail.Read/Calendars.Read roles)
GET  /_sandbox/identity/app-state                                   grants, policies, counts
"""

from __future__ import annotations

import base64
import threading
from dataclasses import dataclass, field

from cryptography import x509
from cryptography.hazmat.primitives import hashes
from flask import Blueprint, Flask, current_app, jsonify, request

from .identity_http import clients

bp = Blueprint("sandbox_identity_app", __name__)

# The application permissions the registration asks for (its "API permissions" page).
APP_ROLES = ("Mail.Read", "Calendars.Read", "User.Read.All", "GroupMember.Read.All")
ACCESS_POLICY_MESSAGE = "Access to OData is disabled."


@dataclass
class AppState:
    # (tenant id, client id) → the app roles an admin granted.
    grants: dict[tuple[str, str], tuple[str, ...]] = field(default_factory=dict)
    # client id → registered certificates (uploaded at run time; plus the config's).
    certificates: dict[str, list[x509.Certificate]] = field(default_factory=dict)
    # tenant id → object ids the application may read (absent: every mailbox).
    policies: dict[str, frozenset[str]] = field(default_factory=dict)
    # Tenants whose limit is RBAC for Applications: the allowed mailboxes are readable through
    # Exchange's own "Application Mail.Read/Calendars.Read" role assignment, whatever the
    # token's Entra roles ("independent of the unscoped grants in Microsoft Entra ID").
    rbac: set[str] = field(default_factory=set)
    # Client-credentials requests by outcome, for tests.
    counts: dict[str, int] = field(default_factory=dict)
    lock: threading.Lock = field(default_factory=threading.Lock)

    def count(self, outcome: str) -> None:
        with self.lock:
            self.counts[outcome] = self.counts.get(outcome, 0) + 1


def init_state(app: Flask) -> None:
    app.extensions["sandbox_identity_app"] = AppState()


def state() -> AppState:
    return current_app.extensions["sandbox_identity_app"]


def _default_client() -> str:
    return next(iter(clients()))


def grant(tenant_id: str, client_id: str, roles: tuple[str, ...] = APP_ROLES) -> None:
    st = state()
    with st.lock:
        st.grants[(tenant_id, client_id)] = tuple(r for r in roles if r in APP_ROLES)


def roles_for(tenant_id: str, client_id: str) -> list[str]:
    return list(state().grants.get((tenant_id, client_id), ()))


def certificates_of(client_id: str) -> list[x509.Certificate]:
    configured = [
        x509.load_pem_x509_certificate(pem.encode())
        for pem in clients().get(client_id, {}).get("certificates", ())
    ]
    return configured + list(state().certificates.get(client_id, []))


def b64url(raw: bytes) -> str:
    return base64.urlsafe_b64encode(raw).rstrip(b"=").decode()


def thumbprints(cert: x509.Certificate) -> tuple[str, str]:
    """(x5t#S256, x5t): base64url SHA-256 and SHA-1 of the DER certificate."""
    return b64url(cert.fingerprint(hashes.SHA256())), b64url(cert.fingerprint(hashes.SHA1()))  # noqa: S303


def mailbox_allowed(tenant_id: str, object_id: str) -> bool:
    allowed = state().policies.get(tenant_id)
    return allowed is None or object_id in allowed


def exchange_grants(tenant_id: str, object_id: str) -> bool:
    """RBAC for Applications gives the app this mailbox on Exchange's side."""
    st = state()
    return tenant_id in st.rbac and object_id in st.policies.get(tenant_id, frozenset())


@bp.post("/_sandbox/identity/app-grant")
def app_grant():
    body = request.get_json(force=True)
    roles = tuple(body.get("roles") or APP_ROLES)
    grant(str(body.get("tenant_id", "")), str(body.get("client_id") or _default_client()), roles)
    return jsonify(
        {"roles": roles_for(body.get("tenant_id", ""), body.get("client_id") or _default_client())}
    )


@bp.post("/_sandbox/identity/revoke-app-grant")
def revoke_app_grant():
    body = request.get_json(force=True)
    st = state()
    with st.lock:
        removed = st.grants.pop(
            (str(body.get("tenant_id", "")), str(body.get("client_id") or _default_client())), None
        )
    return jsonify({"revoked": removed is not None})


@bp.post("/_sandbox/identity/app-certificates")
def app_certificates():
    body = request.get_json(force=True)
    try:
        cert = x509.load_pem_x509_certificate(str(body.get("certificate_pem", "")).encode())
    except ValueError:
        return jsonify({"error": "not a PEM certificate"}), 400
    client_id = str(body.get("client_id") or _default_client())
    st = state()
    with st.lock:
        st.certificates.setdefault(client_id, []).append(cert)
    s256, sha1 = thumbprints(cert)
    return jsonify({"x5t#S256": s256, "x5t": sha1})


@bp.post("/_sandbox/graph/access-policy")
def access_policy():
    body = request.get_json(force=True)
    tenant_id = str(body.get("tenant_id", ""))
    allowed = body.get("allowed")
    st = state()
    with st.lock:
        if allowed is None:
            st.policies.pop(tenant_id, None)
            st.rbac.discard(tenant_id)
        else:
            st.policies[tenant_id] = frozenset(str(a) for a in allowed)
            if body.get("rbac"):
                st.rbac.add(tenant_id)
            else:
                st.rbac.discard(tenant_id)
    return jsonify(
        {"tenant_id": tenant_id, "allowed": None if allowed is None else sorted(allowed)}
    )


@bp.get("/_sandbox/identity/app-state")
def app_state():
    st = state()
    return jsonify(
        {
            "grants": {f"{t}|{c}": list(r) for (t, c), r in st.grants.items()},
            "policies": {t: sorted(a) for t, a in st.policies.items()},
            "counts": dict(st.counts),
        }
    )
