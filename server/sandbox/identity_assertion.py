"""Client authentication with a certificate at the sandbox's token endpoint: the signed JWT
client assertion of https://learn.microsoft.com/entra/identity-platform/certificate-credentials
(`client_assertion_type=urn:ietf:params:oauth:client-assertion-type:jwt-bearer`, RFC 7523).

Checked as that page describes it:
- header: `x5t#S256` (base64url SHA-256 thumbprint of the DER certificate; with PS256) or the
  legacy `x5t` (SHA-1; with RS256) names a certificate registered on the app;
- signature: by that certificate's key (PS256 or RS256);
- claims: `aud` = this tenant's token endpoint, `iss` = `sub` = the client id, `exp` (and
  `nbf` when given: the page lists it, but MSAL for Python sends only `iat`, and Entra takes
  MSAL's assertions), `jti` present. Entra documents no replay check on `jti` and
  MSAL reuses one assertion for up to 9 minutes, so a repeated `jti` is accepted here too.

Errors use the identity platform's codes: AADSTS700027 (signature / unknown key),
AADSTS700024 (time range), AADSTS700023 (audience), AADSTS700021 (issuer/subject),
AADSTS50027 (malformed).
"""

from __future__ import annotations

import jwt

from .identity_app import certificates_of, thumbprints

JWT_BEARER = "urn:ietf:params:oauth:client-assertion-type:jwt-bearer"
ALGORITHMS = ["PS256", "RS256"]
LEEWAY_SECONDS = 300  # Entra allows a few minutes of clock skew


class AssertionRefused(Exception):
    def __init__(self, description: str):
        super().__init__(description)
        self.description = description


def verify_client_assertion(assertion: str, client_id: str, token_endpoint: str) -> dict:
    """The assertion's claims, or AssertionRefused with Entra's error description."""
    try:
        header = jwt.get_unverified_header(assertion)
    except jwt.InvalidTokenError:
        raise AssertionRefused("AADSTS50027: JWT token is invalid or malformed.") from None
    cert = _certificate(header, client_id)
    if cert is None:
        shown = header.get("x5t#S256") or header.get("x5t") or ""
        raise AssertionRefused(
            "AADSTS700027: Client assertion contains an invalid signature. "
            f"[Reason - The key was not found., Thumbprint of key used by client: '{shown}']"
        )
    try:
        claims = jwt.decode(
            assertion,
            cert.public_key(),
            algorithms=ALGORITHMS,
            audience=token_endpoint,
            leeway=LEEWAY_SECONDS,
            options={"require": ["aud", "iss", "sub", "exp", "jti"]},
        )
    except jwt.InvalidSignatureError:
        raise AssertionRefused(
            "AADSTS700027: Client assertion failed signature validation."
        ) from None
    except (jwt.ExpiredSignatureError, jwt.ImmatureSignatureError):
        raise AssertionRefused(
            "AADSTS700024: Client assertion is not within its valid time range."
        ) from None
    except jwt.InvalidAudienceError:
        raise AssertionRefused(
            "AADSTS700023: Client assertion audience claim does not match Realm issuer."
        ) from None
    except jwt.InvalidTokenError as exc:
        raise AssertionRefused(f"AADSTS50027: JWT token is invalid or malformed. ({exc})") from None
    if claims.get("iss") != client_id or claims.get("sub") != client_id:
        raise AssertionRefused(
            "AADSTS700021: Client assertion application identifier doesn't match "
            "'client_id' parameter."
        )
    return claims


def _certificate(header: dict, client_id: str):
    # MSAL keeps base64's "=" padding on the thumbprint; compare without it.
    s256 = str(header.get("x5t#S256") or "").rstrip("=")
    sha1 = str(header.get("x5t") or "").rstrip("=")
    if not (s256 or sha1) or header.get("alg") not in ALGORITHMS:
        return None
    for cert in certificates_of(client_id):
        mine_s256, mine_sha1 = thumbprints(cert)
        if (s256 and s256 == mine_s256) or (not s256 and sha1 == mine_sha1):
            return cert
    return None
