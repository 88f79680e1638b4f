"""State and token minting of the sandbox identity provider (stands in for Microsoft Entra ID).

Signing key, authorization codes, refresh tokens and user grants live in memory; POST
/_sandbox/reset rebuilds them. Tokens are RS256 JWTs with the claim set of Microsoft identity
platform v2.0 tokens, so the product validates them with the code it uses in production.
"""

from __future__ import annotations

import base64
import hashlib
import json
import secrets
import threading
import time
import uuid
from dataclasses import dataclass, field

import jwt
from cryptography.hazmat.primitives.asymmetric import rsa
from flask import Flask, current_app

from .directory import DirectoryUser

GRAPH_RESOURCE = "https://graph.microsoft.com"
OIDC_SCOPES = frozenset({"openid", "profile", "offline_access", "email"})
# Delegated Graph permissions the sandbox knows; anything else is invalid_scope.
GRAPH_DELEGATED = frozenset(
    {"User.Read", "Mail.Read", "Mail.ReadBasic", "Calendars.Read", "User.ReadBasic.All"}
)
CODE_LIFETIME = 600
DEFAULT_ACCESS_TOKEN_LIFETIME = 3600


@dataclass
class AuthCode:
    client_id: str
    redirect_uri: str
    user: DirectoryUser
    scopes: list[str]
    nonce: str | None
    code_challenge: str | None
    code_challenge_method: str | None
    expires_at: float


@dataclass
class Grant:
    """A user's consent to a client; revoking it kills every refresh token issued under it."""

    user: DirectoryUser
    client_id: str
    grant_id: str = field(default_factory=lambda: uuid.uuid4().hex)


@dataclass
class IdentityState:
    signing_key: rsa.RSAPrivateKey
    kid: str
    # Keys rotated out but still published (as Entra does during a rollover).
    retired_keys: dict[str, rsa.RSAPrivateKey] = field(default_factory=dict)
    codes: dict[str, AuthCode] = field(default_factory=dict)
    refresh_tokens: dict[str, Grant] = field(default_factory=dict)
    grants: dict[tuple[str, str, str], Grant] = field(default_factory=dict)
    access_token_lifetime: int = DEFAULT_ACCESS_TOKEN_LIFETIME
    # Ids (uti) of access tokens issued so far, and of those the "expire" switch voided.
    issued_utis: set[str] = field(default_factory=set)
    expired_utis: set[str] = field(default_factory=set)
    grant_counts: dict[str, int] = field(default_factory=dict)
    # Directory roles changed in the tenant since the demo data (tenant id, object id) → wids:
    # an administrator removed or assigned a role in Entra.
    wids_overrides: dict[tuple[str, str], tuple[str, ...]] = field(default_factory=dict)
    # Delegated permissions nobody has consented to in a tenant (tenant id → permissions):
    # asking for one is refused with AADSTS65001 until an admin consents (identity_consent).
    withheld: dict[str, set[str]] = field(default_factory=dict)
    lock: threading.Lock = field(default_factory=threading.Lock)

    def expire_access_tokens(self) -> int:
        with self.lock:
            self.expired_utis |= self.issued_utis
            return len(self.issued_utis)

    def rotate_key(self) -> str:
        with self.lock:
            self.retired_keys[self.kid] = self.signing_key
            self.signing_key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
            self.kid = uuid.uuid4().hex[:16]
            return self.kid

    def public_key(self, kid: str):
        key = self.signing_key if kid == self.kid else self.retired_keys.get(kid)
        return key.public_key() if key is not None else None

    def count(self, grant_type: str) -> None:
        with self.lock:
            self.grant_counts[grant_type] = self.grant_counts.get(grant_type, 0) + 1


def _b64url_uint(value: int) -> str:
    raw = value.to_bytes((value.bit_length() + 7) // 8, "big")
    return base64.urlsafe_b64encode(raw).rstrip(b"=").decode()


def new_state() -> IdentityState:
    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    return IdentityState(signing_key=key, kid=uuid.uuid4().hex[:16])


def init_state(app: Flask) -> None:
    # Keep the signing key across resets: tokens already handed out keep verifying, the way a
    # real provider's keys outlive any one test.
    previous: IdentityState | None = app.extensions.get("sandbox_identity")
    state = new_state()
    if previous is not None:
        state.signing_key, state.kid = previous.signing_key, previous.kid
        state.retired_keys = dict(previous.retired_keys)
    app.extensions["sandbox_identity"] = state


def wids_of(st: IdentityState, user: DirectoryUser) -> list[str]:
    """The user's directory role template ids as the tenant has them now."""
    return list(st.wids_overrides.get((user.tenant_id, user.object_id), user.wids))


def state() -> IdentityState:
    return current_app.extensions["sandbox_identity"]


def _jwk(kid: str, key: rsa.RSAPrivateKey, issuer_template: str) -> dict:
    numbers = key.public_key().public_numbers()
    return {
        "kty": "RSA",
        "use": "sig",
        "kid": kid,
        "alg": "RS256",
        "n": _b64url_uint(numbers.n),
        "e": _b64url_uint(numbers.e),
        "issuer": issuer_template,
    }


def jwks(st: IdentityState, issuer_template: str) -> dict:
    keys = [_jwk(st.kid, st.signing_key, issuer_template)]
    keys += [_jwk(kid, key, issuer_template) for kid, key in st.retired_keys.items()]
    return {"keys": keys}


def sign(st: IdentityState, claims: dict, headers: dict | None = None) -> str:
    if "uti" in claims and ("scp" in claims or claims.get("idtyp") == "app"):
        with st.lock:
            st.issued_utis.add(claims["uti"])
    return jwt.encode(
        claims, st.signing_key, algorithm="RS256", headers={"kid": st.kid, **(headers or {})}
    )


def issuer_for(base_url: str, tenant_id: str) -> str:
    return f"{base_url}/{tenant_id}/v2.0"


def pairwise_sub(user: DirectoryUser, client_id: str) -> str:
    digest = hashlib.sha256(f"{user.tenant_id}|{user.object_id}|{client_id}".encode()).digest()
    return base64.urlsafe_b64encode(digest).rstrip(b"=").decode()


def user_claims(user: DirectoryUser) -> dict:
    return {
        "tid": user.tenant_id,
        "oid": user.object_id,
        "preferred_username": user.email,
        "name": user.display_name,
    }


def split_scopes(scopes: list[str], api_audiences: set[str]) -> tuple[str, list[str]]:
    """(resource, permission names) for one resource; raises ValueError like AADSTS70011/28000."""
    resources: dict[str, list[str]] = {}
    for scope in scopes:
        if scope in OIDC_SCOPES:
            continue
        if "/" in scope:
            resource, _, name = scope.rpartition("/")
        else:
            resource, name = GRAPH_RESOURCE, scope
        if resource == GRAPH_RESOURCE and name not in GRAPH_DELEGATED and name != ".default":
            raise ValueError(f"AADSTS70011: The provided scope '{scope}' is not valid.")
        if resource != GRAPH_RESOURCE and resource not in api_audiences:
            raise ValueError(f"AADSTS650053: The resource '{resource}' is not known.")
        resources.setdefault(resource, []).append(name)
    if len(resources) > 1:
        raise ValueError(
            "AADSTS28000: Provided value for the input parameter scope is not valid "
            "because it contains more than one resource."
        )
    if not resources:
        return GRAPH_RESOURCE, ["User.Read"]
    resource, names = next(iter(resources.items()))
    if names == [".default"] and resource == GRAPH_RESOURCE:
        names = sorted(GRAPH_DELEGATED & {"User.Read", "Mail.Read", "Calendars.Read"})
    return resource, names


def access_token(
    st: IdentityState,
    base_url: str,
    user: DirectoryUser,
    client_id: str,
    resource: str,
    permissions: list[str],
    audience: str | None = None,
) -> tuple[str, int]:
    """A delegated access token for `resource`; `audience` (default: the resource) is its
    `aud` claim."""
    now = int(time.time())
    lifetime = st.access_token_lifetime
    claims = {
        "aud": audience or resource,
        "iss": issuer_for(base_url, user.tenant_id),
        "iat": now,
        "nbf": now,
        "exp": now + lifetime,
        "azp": client_id,
        "azpacr": "1",
        "scp": " ".join(permissions),
        "sub": pairwise_sub(user, client_id),
        "uti": secrets.token_urlsafe(16),
        "ver": "2.0",
        "wids": wids_of(st, user),
        **user_claims(user),
    }
    return sign(st, claims), lifetime


def app_access_token(
    st: IdentityState,
    base_url: str,
    tenant_id: str,
    client_id: str,
    resource: str,
    roles: list[str],
) -> tuple[str, int]:
    """An app-only token; `roles` are the application permissions the tenant granted (the
    claim is absent without any, as in Entra's tokens)."""
    now = int(time.time())
    sp_object_id = str(uuid.uuid5(uuid.NAMESPACE_URL, f"{tenant_id}/{client_id}"))
    claims = {
        "aud": resource,
        "iss": issuer_for(base_url, tenant_id),
        "iat": now,
        "nbf": now,
        "exp": now + st.access_token_lifetime,
        "azp": client_id,
        "azpacr": "1",
        "idtyp": "app",
        "oid": sp_object_id,
        "sub": sp_object_id,
        "tid": tenant_id,
        "uti": secrets.token_urlsafe(16),
        "ver": "2.0",
    }
    if roles:
        claims["roles"] = list(roles)
    return sign(st, claims), st.access_token_lifetime


def id_token(
    st: IdentityState, base_url: str, user: DirectoryUser, client_id: str, nonce: str | None
) -> str:
    now = int(time.time())
    claims = {
        "aud": client_id,
        "iss": issuer_for(base_url, user.tenant_id),
        "iat": now,
        "nbf": now,
        "exp": now + 3600,
        "sub": pairwise_sub(user, client_id),
        "ver": "2.0",
        "email": user.email,
        # Present when the app registration's groupMembershipClaims includes DirectoryRole.
        "wids": wids_of(st, user),
        **user_claims(user),
    }
    if nonce:
        claims["nonce"] = nonce
    return sign(st, claims)


def client_info(user: DirectoryUser) -> str:
    raw = json.dumps({"uid": user.object_id, "utid": user.tenant_id}).encode()
    return base64.urlsafe_b64encode(raw).rstrip(b"=").decode()


def pkce_matches(verifier: str | None, challenge: str | None, method: str | None) -> bool:
    if challenge is None:
        return True  # the client did not use PKCE for this code
    if not verifier:
        return False
    if (method or "plain") == "S256":
        digest = hashlib.sha256(verifier.encode()).digest()
        computed = base64.urlsafe_b64encode(digest).rstrip(b"=").decode()
    else:
        computed = verifier
    return secrets.compare_digest(computed, challenge)


def verify_access_token(raw: str, audience: str = GRAPH_RESOURCE) -> dict:
    """For sandbox resources (Graph, ...): the claims of a valid access token we issued.

    Raises jwt.InvalidTokenError (expired, wrong audience, bad signature, or voided by the
    "expire access tokens" switch).
    """
    st = state()
    key = st.public_key(str(jwt.get_unverified_header(raw).get("kid", "")))
    if key is None:
        raise jwt.InvalidSignatureError("unknown signing key")
    claims = jwt.decode(
        raw,
        key,
        algorithms=["RS256"],
        audience=audience,
        options={"require": ["exp", "iat", "tid"]},
    )
    if claims.get("uti") in st.expired_utis:
        raise jwt.ExpiredSignatureError("the access token has expired")
    return claims
