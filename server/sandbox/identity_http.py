"""Request helpers shared by the sandbox identity provider's endpoints (identity.py,
identity_token.py, identity_switches.py): who we are, which apps are registered, and
Microsoft's OAuth error body."""

from __future__ import annotations

import re
import secrets
import time

from flask import current_app, jsonify, request

from .directory import DEMO_USERS

GUID = re.compile(r"^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$", re.I)
# Tenant path segments of multi-tenant apps: any work account may sign in.
TENANT_ALIASES = ("organizations", "common")


def base_url() -> str:
    """The sandbox's own origin as the caller reached it (issuer and endpoint URLs use it)."""
    return request.host_url.rstrip("/")


def clients() -> dict[str, dict]:
    """The registered applications: client id → {"secret", "api_audience"}."""
    return current_app.config["SANDBOX_CLIENTS"]


def api_audiences() -> set[str]:
    """Application ID URIs of the registered apps that expose an API (scopes like
    api://client/access_as_user)."""
    return {c["api_audience"] for c in clients().values() if c.get("api_audience")}


def audience_of(resource: str) -> str:
    """The `aud` of an access token for `resource`: as in Microsoft's v2.0 tokens, an API
    registered here is named by its application (client) id, not its Application ID URI;
    Graph keeps its URL."""
    owner = next((cid for cid, c in clients().items() if c.get("api_audience") == resource), None)
    return owner or resource


def known_tenant(tenant: str) -> bool:
    return tenant in TENANT_ALIASES or any(u.tenant_id == tenant for u in DEMO_USERS)


def oauth_error(error: str, description: str, status: int = 400):
    """The identity platform's JSON error body; MSAL reads `error` and `error_description`,
    and the AADSTS number in the description becomes `error_codes` as Microsoft does."""
    code = re.match(r"AADSTS(\d+)", description)
    body = {
        "error": error,
        "error_description": description,
        "error_codes": [int(code.group(1))] if code else [],
        "timestamp": time.strftime("%Y-%m-%d %H:%M:%SZ", time.gmtime()),
        "trace_id": secrets.token_hex(8),
        "correlation_id": request.form.get("client-request-id") or secrets.token_hex(8),
    }
    return jsonify(body), status
