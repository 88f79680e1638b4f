"""The MSAL ConfidentialClientApplication, configured from settings.

Scopes asked at sign-in: User.Read (who signed in), Mail.Read and Calendars.Read (background
sync of mail and meetings). MSAL adds openid, profile and offline_access itself (it refuses
them in the list); offline_access is what yields the refresh token the sync needs.
"""

from __future__ import annotations

import msal
from flask import current_app

from ..http import shared_http_session

GRAPH_SCOPES = ["User.Read", "Mail.Read", "Calendars.Read"]
# Process-wide cache MSAL keeps discovery documents in (and its throttling state), so building
# a client per user does not fetch the OpenID configuration every time.
_HTTP_CACHE: dict = {}


def authority_url(tenant: str | None = None) -> str:
    """Multi-tenant ("organizations") unless exactly one tenant is allowed."""
    config = current_app.config
    allowed = tuple(config.get("ALLOWED_TENANTS") or ())
    tenant = tenant or (allowed[0] if len(allowed) == 1 else "organizations")
    return f"{config['MS_AUTHORITY_HOST'].rstrip('/')}/{tenant}"


def build_msal_app(
    cache: msal.SerializableTokenCache | None = None,
    tenant: str | None = None,
    credential: str | dict | None = None,
) -> msal.ConfidentialClientApplication:
    """`credential`: MSAL's client_credential (default: the client secret); app-only tokens
    pass the certificate (server/auth/app_tokens.py)."""
    config = current_app.config
    sandbox = bool(config["SANDBOX_ENABLED"])
    return msal.ConfidentialClientApplication(
        config["MS_CLIENT_ID"],
        client_credential=credential if credential is not None else config["MS_CLIENT_SECRET"],
        authority=authority_url(tenant),
        token_cache=cache,
        http_client=shared_http_session("microsoft_identity"),
        http_cache=_HTTP_CACHE,
        # The sandbox is not a host Microsoft knows: skip instance discovery / authority
        # validation for it, and only for it.
        validate_authority=not sandbox,
        instance_discovery=False if sandbox else None,
    )
