"""What production refuses to start with (pure; called by config.validate for ENV=production).

Every refusal names the variable and says how to fix it. The development defaults are made to
run on one laptop against the sandbox; each of them is unsafe on a server: the sandbox's
loopback URLs, the public development client ids and secrets, SQLite, a guessable SECRET_KEY,
and a sign-in open to every Microsoft 365 organisation.
"""

from __future__ import annotations

import ipaddress
import math
import string
import uuid
from typing import TYPE_CHECKING
from urllib.parse import urlsplit

if TYPE_CHECKING:
    from .config import Settings

MIN_SECRET_BITS = 256  # 32 bytes of entropy
MAKE_SECRET = "python -c 'import secrets; print(secrets.token_urlsafe(32))'"  # noqa: S105 (a command)
# Where each provider URL points in Microsoft's and Salesforce's public clouds. National clouds:
# https://learn.microsoft.com/en-us/entra/identity-platform/authentication-national-cloud and
# https://learn.microsoft.com/en-us/graph/deployments ; Salesforce login hosts (or the org's
# My Domain): https://help.salesforce.com/s/articleView?id=sf.remoteaccess_oauth_endpoints.htm
PRODUCTION_URLS = {
    "MS_AUTHORITY_HOST": "https://login.microsoftonline.com",
    "GRAPH_BASE_URL": "https://graph.microsoft.com/v1.0",
    "SALESFORCE_LOGIN_URL": "https://login.salesforce.com (or your My Domain URL)",
}
# Names reserved for tests and local networks (RFC 2606, RFC 6761, RFC 6762): never a provider.
_RESERVED_SUFFIXES = (".localhost", ".test", ".example", ".invalid", ".local", ".internal")
# Character classes a generated secret is drawn from, smallest first: (alphabet, its size).
_ALPHABETS = (
    (set(string.digits), 10),
    (set(string.hexdigits), 16),
    (set(string.ascii_uppercase + "234567="), 32),
    (set(string.ascii_letters + string.digits + "+/-_="), 64),
    (set(string.printable) - set(string.whitespace), 94),
)


def _refuse(message: str) -> None:
    from .config import ConfigError

    raise ConfigError(message)


def sandbox_url_problem(url: str) -> str | None:
    """Why `url` cannot be a provider's production endpoint (None: it can)."""
    parts = urlsplit(url)
    if parts.scheme != "https":
        return "is not an https:// URL"
    host = (parts.hostname or "").lower().rstrip(".")
    if not host:
        return "has no host"
    if host == "localhost" or host.endswith(_RESERVED_SUFFIXES):
        return f"points at a local or test host ({host})"
    try:
        address = ipaddress.ip_address(host)
    except ValueError:
        address = None
    if address is not None:
        if not address.is_global:
            return f"points at a local or private address ({host}), as the sandbox does"
        return None
    if "." not in host:
        return f"points at a single-label host ({host}), not a public provider host"
    return None


def estimated_entropy_bits(secret: str) -> float:
    """An upper estimate of the randomness in `secret`: its length times the bits per
    character of the smallest usual alphabet holding all of its characters (digits, hex,
    base32, base64, printable); a secret repeating a few characters ("aaaa", "abab") is worth
    only what those few allow."""
    chars = set(secret)
    size = next((n for alphabet, n in _ALPHABETS if chars <= alphabet), 256)
    if len(chars) < min(size, 16) // 2:
        size = len(chars)
    return len(secret) * math.log2(size) if size > 1 else 0.0


def _check_urls(settings: Settings) -> None:
    names = ["MS_AUTHORITY_HOST", "GRAPH_BASE_URL"]
    if settings.CRM_ADAPTER == "salesforce":
        names.append("SALESFORCE_LOGIN_URL")
    for name in names:
        value = getattr(settings, name)
        problem = sandbox_url_problem(value)
        if problem:
            _refuse(
                f"{name}: {value!r} {problem}; production needs the real service: set "
                f"{name}={PRODUCTION_URLS[name]}"
            )


def _check_client_ids(settings: Settings) -> None:
    from .config import Settings as Defaults

    microsoft = ("MS_CLIENT_ID", "MS_CLIENT_SECRET", "MS_API_AUDIENCE")
    for name in microsoft:
        value = getattr(settings, name)
        if not value or value == getattr(Defaults, name) or "courier-dev" in value:
            _refuse(
                f"{name}: the development value is public; set it from your Entra app "
                "registration (README: Sign-in with Microsoft)"
            )
    if settings.CRM_ADAPTER != "salesforce":
        return
    for name in ("SALESFORCE_CLIENT_ID", "SALESFORCE_CLIENT_SECRET"):
        value = getattr(settings, name)
        if not value or value == getattr(Defaults, name) or "courier-dev" in value:
            _refuse(
                f"{name}: the development value is public; set it from your Salesforce "
                "connected app (README: Connecting Salesforce)"
            )


def _check_database(settings: Settings) -> None:
    if settings.DATABASE_URL.startswith("sqlite") and not settings.ALLOW_SQLITE_IN_PRODUCTION:
        _refuse(
            "DATABASE_URL: SQLite is refused in production (one writer at a time, one machine); "
            "set DATABASE_URL=postgresql+psycopg://user:password@host:5432/courier, or "
            "ALLOW_SQLITE_IN_PRODUCTION=true for a single-machine trial"
        )


def _check_secret(settings: Settings) -> None:
    from .config import Settings as Defaults

    if settings.SECRET_KEY == Defaults.SECRET_KEY:
        _refuse(f"SECRET_KEY: the development secret is public; set a random one: {MAKE_SECRET}")
    bits = estimated_entropy_bits(settings.SECRET_KEY)
    if bits < MIN_SECRET_BITS:
        _refuse(
            f"SECRET_KEY: about {int(bits)} bits of randomness, at least {MIN_SECRET_BITS} "
            f"(32 random bytes) needed; make one with {MAKE_SECRET}"
        )


def _check_tenants(settings: Settings) -> None:
    if not settings.ALLOWED_TENANTS and not settings.MULTI_TENANT:
        _refuse(
            "ALLOWED_TENANTS: empty lets every Microsoft 365 organisation sign in; list your "
            "tenant id(s), or set MULTI_TENANT=true if this deployment serves many organisations"
        )


def validate_production(settings: Settings) -> None:
    if settings.SANDBOX_ENABLED:
        _refuse("SANDBOX_ENABLED: the sandbox is refused in production; set SANDBOX_ENABLED=false")
    _check_secret(settings)
    if not settings.ENCRYPTION_KEYS:
        _refuse(
            "ENCRYPTION_KEYS: required in production (Fernet keys); make one with `python -c "
            "'from cryptography.fernet import Fernet; print(Fernet.generate_key().decode())'`"
        )
    if not settings.REDIS_URL:
        _refuse("REDIS_URL: required in production; set REDIS_URL=redis://host:6379/0")
    _check_database(settings)
    _check_client_ids(settings)
    _check_urls(settings)
    if not settings.BASE_URL.startswith("https://"):
        _refuse("BASE_URL: Outlook loads add-ins only over https://; set the public https URL")
    if uuid.UUID(settings.ADDIN_ID) == uuid.UUID(type(settings).ADDIN_ID):
        _refuse(
            "ADDIN_ID: set a GUID of this deployment's own (the development one is shared "
            "by every checkout); make one with `python -c 'import uuid; print(uuid.uuid4())'`"
        )
    _check_tenants(settings)
