"""Validation of Microsoft-issued (v2.0) access tokens for our API.

What is checked, following Microsoft's guidance for multi-tenant APIs:
- algorithm pinned to RS256 (so `alg: none` and HS256-with-the-public-key are refused);
- signing key chosen by `kid` from the JWKS named in the OpenID configuration; the key set is
  cached (24 h) and re-fetched once when a token names an unknown key id (key rollover),
  at most once a minute;
- `tid` must be a GUID; the issuer must equal the configuration's issuer template with
  `{tenantid}` replaced by that tid — exactly;
- audience: our API's application (client) id MS_CLIENT_ID, which is what Microsoft puts in
  v2.0 access tokens, or its Application ID URI MS_API_AUDIENCE (api://...);
  `exp` and `nbf` with a small clock skew;
- a key whose own `issuer` is tenant-specific is only valid for that tenant.
The metadata document is the "organizations" one of MS_AUTHORITY_HOST (the sandbox in
development, login.microsoftonline.com in production).
"""

from __future__ import annotations

import json
import re
import threading
import time
from dataclasses import dataclass, field

import jwt
from flask import current_app

from ..http import make_http_session

GUID = re.compile(r"^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$")
JWKS_MAX_AGE = 24 * 3600
JWKS_MIN_REFRESH_INTERVAL = 60
CLOCK_SKEW_SECONDS = 60


class InvalidToken(Exception):
    """The bearer token is not a valid access token for our API; `reason` says why (logs)."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


class SigningKeysUnavailable(InvalidToken):
    """The identity platform's keys could not be fetched: we cannot tell, so not a 401."""


@dataclass
class _KeySet:
    issuer_template: str = ""
    keys: dict[str, dict] = field(default_factory=dict)
    fetched_at: float = 0.0
    lock: threading.Lock = field(default_factory=threading.Lock)


def _keyset() -> _KeySet:
    store = current_app.extensions.setdefault("ms_jwks", {})
    metadata_url = _metadata_url()
    if metadata_url not in store:
        store[metadata_url] = _KeySet()
    return store[metadata_url]


def _metadata_url() -> str:
    host = current_app.config["MS_AUTHORITY_HOST"].rstrip("/")
    return f"{host}/organizations/v2.0/.well-known/openid-configuration"


def _fetch(keyset: _KeySet) -> None:
    http = make_http_session(service="microsoft_identity")
    try:
        metadata = http.get(_metadata_url())
        metadata.raise_for_status()
        config = metadata.json()
        response = http.get(config["jwks_uri"])
        response.raise_for_status()
        keys = response.json().get("keys", [])
    except (OSError, ValueError, KeyError) as exc:
        raise SigningKeysUnavailable(f"signing keys unavailable: {type(exc).__name__}") from exc
    finally:
        http.close()
    keyset.issuer_template = config["issuer"]
    keyset.keys = {k["kid"]: k for k in keys if "kid" in k}
    keyset.fetched_at = time.time()


def _signing_key(kid: str) -> tuple[dict, str]:
    keyset = _keyset()
    with keyset.lock:
        now = time.time()
        stale = now - keyset.fetched_at > JWKS_MAX_AGE
        unknown = kid not in keyset.keys and now - keyset.fetched_at > JWKS_MIN_REFRESH_INTERVAL
        if stale or unknown:
            _fetch(keyset)
        key = keyset.keys.get(kid)
        if key is None:
            raise InvalidToken("unknown signing key id")
        return key, keyset.issuer_template


def _unverified(token: str) -> tuple[dict, dict]:
    try:
        header = jwt.get_unverified_header(token)
        claims = jwt.decode(token, options={"verify_signature": False})
    except jwt.InvalidTokenError as exc:
        raise InvalidToken(f"malformed token: {exc}") from None
    return header, claims


def _our_audiences() -> list[str]:
    config = current_app.config
    return [a for a in dict.fromkeys((config["MS_CLIENT_ID"], config["MS_API_AUDIENCE"])) if a]


def validate_access_token(token: str, audience: str | None = None) -> dict:
    """The verified claims of a Microsoft access token for our API, or InvalidToken."""
    header, unverified = _unverified(token)
    if header.get("alg") != "RS256":
        raise InvalidToken(f"algorithm {header.get('alg')!r} is not allowed")
    kid = header.get("kid")
    if not isinstance(kid, str) or not kid:
        raise InvalidToken("no key id")
    tid = unverified.get("tid")
    if not isinstance(tid, str) or not GUID.match(tid):
        raise InvalidToken("tid is not a GUID")
    jwk, issuer_template = _signing_key(kid)
    expected_issuer = issuer_template.replace("{tenantid}", tid)
    key_issuer = jwk.get("issuer")
    if key_issuer and "{tenantid}" not in key_issuer and key_issuer != expected_issuer:
        raise InvalidToken("signing key belongs to another tenant")
    try:
        public_key = jwt.PyJWK.from_json(json.dumps(jwk), algorithm="RS256").key
        claims = jwt.decode(
            token,
            public_key,
            algorithms=["RS256"],
            audience=audience or _our_audiences(),
            issuer=expected_issuer,
            leeway=CLOCK_SKEW_SECONDS,
            options={"require": ["exp", "nbf", "iat", "iss", "aud", "tid", "oid"]},
        )
    except jwt.InvalidTokenError as exc:
        raise InvalidToken(f"{type(exc).__name__}: {exc}") from None
    if claims.get("tid") != tid:
        raise InvalidToken("tid changed")  # cannot happen with a valid signature; belt and braces
    return claims
