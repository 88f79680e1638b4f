"""Settings: the only module that reads the environment.

Every setting has a documented default in `.env.example`. A bad value fails at start
with a message that names the variable.
"""

from __future__ import annotations

import base64
import binascii
import os
import uuid
from collections.abc import Mapping
from dataclasses import dataclass, fields
from pathlib import Path
from typing import Any

from .csp import check_office_js_url, frame_ancestors

PROJECT_ROOT = Path(__file__).resolve().parent.parent
INSTANCE_DIR = PROJECT_ROOT / "instance"


class ConfigError(ValueError):
    """A setting has a value we cannot use; the message names the variable."""


def _parse_bool(name: str, raw: str) -> bool:
    value = raw.strip().lower()
    if value in {"1", "true", "yes", "on"}:
        return True
    if value in {"0", "false", "no", "off", ""}:
        return False
    raise ConfigError(f"{name}: expected true/false, got {raw!r}")


def _parse_int(name: str, raw: str) -> int:
    try:
        return int(raw.strip())
    except ValueError:
        raise ConfigError(f"{name}: expected an integer, got {raw!r}") from None


def _parse_list(_name: str, raw: str) -> tuple[str, ...]:
    return tuple(part.strip() for part in raw.split(",") if part.strip())


@dataclass(frozen=True)
class Settings:
    # Environment: "development" (embedded defaults, sandbox allowed), "test" or "production".
    ENV: str = "development"
    # Signs browser session cookies and CSRF tokens; random and secret in production.
    SECRET_KEY: str = "dev-only-secret-key-change-me"
    # Fernet keys (comma-separated, newest first) encrypting tokens at rest; rotation is
    # adding a new key in front. Empty in development: a key is derived from SECRET_KEY.
    ENCRYPTION_KEYS: tuple[str, ...] = ()
    # The admin console warns "key rotation due" once the newest key is this old (days).
    ENCRYPTION_KEY_MAX_AGE_DAYS: int = 365
    # Where local state lives: the SQLite file, the embedded Redis, the development CA.
    INSTANCE_PATH: str = str(INSTANCE_DIR)
    # Empty: a SQLite file under INSTANCE_PATH (development and test only).
    DATABASE_URL: str = ""
    # Production refuses SQLite (one writer at a time, no shared server for several machines)
    # unless this is true: a single-machine trial that accepts it.
    ALLOW_SQLITE_IN_PRODUCTION: bool = False
    # Empty: `make run` starts an embedded Redis server under instance/.
    REDIS_URL: str = ""
    # Port of the web server under `make run`.
    PORT: int = 8000
    # Public base URL of this server, as Outlook and browsers reach it.
    BASE_URL: str = "http://127.0.0.1:8000"
    # Which CRM: "builtin" (works with no external system) or "salesforce".
    CRM_ADAPTER: str = "builtin"
    # ISO 4217 code of the CRM's opportunity amounts, shown by the pane (a single-currency
    # Salesforce org: its Organization.DefaultCurrencyIsoCode). Empty: amounts without one.
    CRM_CURRENCY: str = "USD"
    # CA bundle trusted by every outbound HTTP client (sandbox dev CA, TLS-inspecting proxy).
    CA_BUNDLE: str = ""
    # Timeout of every outbound HTTP call (Microsoft, Graph, Salesforce).
    HTTP_TIMEOUT_SECONDS: int = 20
    # Microsoft identity platform. The sandbox serves the same endpoints on SANDBOX_PORT.
    MS_AUTHORITY_HOST: str = "https://127.0.0.1:8010"
    # The Entra app registration of Courier (see README: "Sign-in with Microsoft").
    MS_CLIENT_ID: str = "courier-dev-client"
    MS_CLIENT_SECRET: str = "courier-dev-secret"
    MS_API_AUDIENCE: str = "api://courier-dev-client"
    # Application mode (README: "Application mode: settings"): the app-only credential of the
    # same app registration. A certificate is preferred: the PEM private key and the PEM
    # certificate uploaded in Entra (MSAL signs a PS256 assertion with its SHA-256 thumbprint),
    # or a SHA-1 thumbprint instead of the certificate (RS256, legacy). Without a key, the
    # client secret below is used (empty: MS_CLIENT_SECRET).
    MS_APP_CERT_KEY_PATH: str = ""
    MS_APP_CERT_PATH: str = ""
    MS_APP_CERT_THUMBPRINT: str = ""
    MS_APP_CERT_PASSPHRASE: str = ""
    MS_APP_CLIENT_SECRET: str = ""
    # The tenant limits the app with RBAC for Applications: Exchange grants "Application
    # Mail.Read/Calendars.Read" on its side, so the token carries no such role; a mailbox the
    # app may not read then shows as refused (not in the application's scope) instead.
    MS_APP_EXCHANGE_RBAC: bool = False
    # Application mode: an organisation whose application grant was refused (revoked
    # consent, rejected credential) asks the identity platform again at most this often,
    # from the scheduler's tick, so a grant restored in Entra resumes the sync on its own.
    APP_GRANT_RECHECK_MINUTES: int = 15
    # Microsoft Graph: https://graph.microsoft.com/v1.0 in production.
    GRAPH_BASE_URL: str = "https://127.0.0.1:8010/graph/v1.0"
    # Tenant ids allowed to sign in (empty: any work tenant; one: sign-in uses that tenant).
    ALLOWED_TENANTS: tuple[str, ...] = ()
    # This deployment serves many organisations (SaaS): production then accepts an empty
    # ALLOWED_TENANTS (any Microsoft 365 organisation may sign in); otherwise it refuses it.
    MULTI_TENANT: bool = False
    # Salesforce login host and connected app (see README: "Connecting Salesforce").
    SALESFORCE_LOGIN_URL: str = "https://127.0.0.1:8010/salesforce"
    SALESFORCE_CLIENT_ID: str = "courier-dev-sf-client"
    SALESFORCE_CLIENT_SECRET: str = "courier-dev-sf-secret"
    # Salesforce connector (server/crm/salesforce/): OAuth scopes, REST API version.
    SALESFORCE_SCOPES: tuple[str, ...] = ("api", "refresh_token")
    SALESFORCE_API_VERSION: str = "60.0"
    # "enhanced" (EmailMessage + relations) or "task" (completed Tasks); per-org override in DB.
    SALESFORCE_EMAIL_MODE: str = "enhanced"
    # Contact fields holding addresses (Email plus custom/NPSP ones), and Account domain fields.
    SALESFORCE_CONTACT_EMAIL_FIELDS: tuple[str, ...] = ("Email",)
    SALESFORCE_ACCOUNT_DOMAIN_FIELDS: tuple[str, ...] = ("Website",)
    # Our idempotency key on EmailMessage and on Task/Event: a unique external-id text field
    # (255) — Salesforce itself then refuses a second write, no look-up call needed; or
    # MessageIdentifier on EmailMessage (no custom field; one look-up call per batch).
    SALESFORCE_EMAIL_KEY_FIELD: str = "Courier_Key__c"
    SALESFORCE_ACTIVITY_KEY_FIELD: str = "Courier_Key__c"
    # A Text(255) field on Activity holding a recurring meeting's series key, so the Events of
    # one series (one per occurrence) can be found together; "" when the org has none.
    SALESFORCE_SERIES_KEY_FIELD: str = ""
    # Pause an org's writes when its daily API usage reaches this percentage, for this long.
    SALESFORCE_BUDGET_PAUSE_PERCENT: int = 80
    SALESFORCE_BUDGET_PAUSE_MINUTES: int = 60
    # Retries of 5xx/timeouts (exponential backoff from this base, honouring Retry-After).
    SALESFORCE_MAX_RETRIES: int = 3
    SALESFORCE_RETRY_BASE_MS: int = 500
    # Per-organisation cache of address -> contact/lead lookups (Redis), in seconds.
    SALESFORCE_CACHE_TTL_SECONDS: int = 900
    # The local stand-in for Microsoft 365 and Salesforce (refused in production).
    SANDBOX_ENABLED: bool = True
    SANDBOX_PORT: int = 8010
    # Pane/browser session tokens slide: one unused for SESSION_IDLE_HOURS ends; use extends it
    # (at most one database write per session every SESSION_RENEW_MINUTES), but never past
    # SESSION_MAX_DAYS after sign-in. Revocation (sign-out, disconnect, admin) is immediate.
    SESSION_IDLE_HOURS: int = 14 * 24
    SESSION_MAX_DAYS: int = 90
    SESSION_RENEW_MINUTES: int = 60
    # Requests per minute on each sign-in endpoint (start, callback, exchange), counted per
    # one-time code, else per browser session, else per client address (server/ratelimit.py).
    SIGNIN_RATE_LIMIT_PER_MINUTE: int = 30
    # Ceiling per client address on each sign-in endpoint, whatever the code or session: bounds
    # a flood from one address; high, because many people may share an address (NAT, proxy).
    SIGNIN_ADDRESS_LIMIT_PER_MINUTE: int = 600
    # Reverse proxies in front of the app whose X-Forwarded-For/-Proto are trusted (0: none,
    # so the client address and scheme are the socket's and cannot be spoofed).
    TRUSTED_PROXY_HOPS: int = 0
    # Extra origins allowed to call the JSON API (the BASE_URL origin always is); no wildcards.
    CORS_ORIGINS: tuple[str, ...] = ()
    # Default minutes between two sync sessions of a mailbox (admins can change it per org).
    SYNC_INTERVAL_MINUTES: int = 10
    # Background sync (server/sync): Graph page size (Prefer: odata.maxpagesize), retries of
    # 429/503/resets (backoff base in ms; a Retry-After above the max wait ends the session),
    # the calendar's rolling window, when a running session counts as dead, the job timeout.
    GRAPH_PAGE_SIZE: int = 200
    GRAPH_MAX_RETRIES: int = 6
    GRAPH_BACKOFF_BASE_MS: int = 500
    GRAPH_MAX_WAIT_SECONDS: int = 30
    SYNC_CALENDAR_PAST_DAYS: int = 30
    SYNC_CALENDAR_FUTURE_DAYS: int = 90
    SYNC_STALE_SECONDS: int = 300
    # A running session beats its heartbeat this often (a thread, independent of page length).
    SYNC_HEARTBEAT_SECONDS: int = 30
    # A writer of the ledger (pane save, queued save, sync) holds its pending rows this long,
    # renewed every quarter of it while it writes: the tick re-drives a row only once its
    # writer's lease has run out (the writer died), never while a slow CRM call goes on.
    WRITER_LEASE_SECONDS: int = 120
    SYNC_JOB_TIMEOUT_SECONDS: int = 3600
    # Graph change notifications (webhooks) as the fast trigger; polling stays the safety net.
    SYNC_WEBHOOKS_ENABLED: bool = False
    # With webhooks on, a mailbox whose subscriptions are live is polled only this often
    # (a safety net for missed notifications; never more often than SYNC_INTERVAL_MINUTES);
    # without them it keeps SYNC_INTERVAL_MINUTES.
    SYNC_SAFETY_POLL_MINUTES: int = 60
    # One JSON object per log line (production), with request and job ids.
    LOG_JSON: bool = False
    # Bearer token that /metrics (Prometheus) requires; empty: /metrics answers 404.
    METRICS_TOKEN: str = ""
    # Retention (server/retention.py, run hourly): finished sync sessions older than this many
    # days are deleted. Ledger rows (what was saved where) are kept.
    SYNC_SESSION_RETENTION_DAYS: int = 90
    # The admin console's audit trail is kept this many days (compliance often asks for a year
    # or more), then deleted by the same hourly job.
    AUDIT_RETENTION_DAYS: int = 400
    # Largest request body accepted (413 above it).
    MAX_REQUEST_BYTES: int = 1_000_000
    # Outlook add-in manifest: its id, the version (bump on every manifest change) and extra
    # trusted domains for the pane (the base URL is always one). The id is a GUID of this
    # deployment's own (Outlook tells add-ins apart by it; two deployments sharing one replace
    # each other): the development one below is refused in production.
    ADDIN_ID: str = "5b1f3c2a-8e47-4d4b-9c1e-7a3f0d2b6c91"
    ADDIN_VERSION: str = "1.0.0.0"
    ADDIN_APP_DOMAINS: tuple[str, ...] = ()
    # Office.js for the pane and the dialog pages: Microsoft's CDN (Marketplace add-ins must
    # use it). The pages' CSP allows its directory and what it loads (server/csp.py).
    OFFICE_JS_URL: str = "https://appsforoffice.microsoft.com/lib/1/hosted/office.js"
    # Hosts allowed to frame the pane beyond Microsoft's Outlook hosts (server/csp.py):
    # government clouds, on-premises Outlook on the web. https origins; https://*.host allowed.
    FRAME_ANCESTORS_EXTRA: tuple[str, ...] = ()

    @property
    def is_production(self) -> bool:
        return self.ENV == "production"

    def as_flask_config(self) -> dict[str, Any]:
        return {f.name: getattr(self, f.name) for f in fields(self)}


_PARSERS = {bool: _parse_bool, int: _parse_int, tuple: _parse_list}


def load_settings(
    environ: Mapping[str, str] | None = None, overrides: Mapping[str, Any] | None = None
) -> Settings:
    """Build settings from the environment (COURIER-independent names) plus overrides."""
    environ = os.environ if environ is None else environ
    values: dict[str, Any] = {}
    for f in fields(Settings):
        if f.name in environ:
            kind = type(f.default) if not isinstance(f.default, tuple) else tuple
            parser = _PARSERS.get(kind)
            values[f.name] = parser(f.name, environ[f.name]) if parser else environ[f.name]
    values.update(overrides or {})
    # The SQLite fallback is for development and tests; production must say where its data
    # lives (validate() refuses the empty value with the fix).
    if not values.get("DATABASE_URL") and values.get("ENV") != "production":
        instance = Path(values.get("INSTANCE_PATH") or INSTANCE_DIR)
        values["DATABASE_URL"] = f"sqlite:///{instance / 'courier.db'}"
    unknown = set(values) - {f.name for f in fields(Settings)}
    if unknown:
        raise ConfigError(f"unknown settings: {', '.join(sorted(unknown))}")
    settings = Settings(**values)
    validate(settings)
    return settings


def validate(settings: Settings) -> None:
    if settings.ENV not in {"development", "test", "production"}:
        raise ConfigError(f"ENV: expected development, test or production, got {settings.ENV!r}")
    if not (1 <= settings.PORT <= 65535):
        raise ConfigError(f"PORT: expected 1-65535, got {settings.PORT}")
    if settings.is_production and not settings.DATABASE_URL:
        raise ConfigError(
            "DATABASE_URL: required in production (no silent SQLite fallback); set "
            "postgresql+psycopg://user:password@host:5432/courier"
        )
    if not settings.DATABASE_URL.split(":", 1)[0].startswith(("sqlite", "postgresql")):
        raise ConfigError("DATABASE_URL: expected a sqlite:/// or postgresql:// URL")
    if settings.REDIS_URL and not settings.REDIS_URL.startswith(
        ("redis://", "rediss://", "unix://")
    ):
        raise ConfigError(
            f"REDIS_URL: expected redis://, rediss:// or unix://, got {settings.REDIS_URL!r}"
        )
    if settings.CRM_CURRENCY and not (
        len(settings.CRM_CURRENCY) == 3 and settings.CRM_CURRENCY.isalpha()
    ):
        raise ConfigError(f"CRM_CURRENCY: expected an ISO 4217 code, got {settings.CRM_CURRENCY!r}")
    if settings.SALESFORCE_EMAIL_MODE not in {"enhanced", "task"}:
        raise ConfigError("SALESFORCE_EMAIL_MODE: expected enhanced or task")
    if not 1 <= settings.SALESFORCE_BUDGET_PAUSE_PERCENT <= 100:
        raise ConfigError("SALESFORCE_BUDGET_PAUSE_PERCENT: expected 1-100")
    if not 1 <= settings.SESSION_IDLE_HOURS <= settings.SESSION_MAX_DAYS * 24:
        raise ConfigError("SESSION_IDLE_HOURS: must be at least 1 and within SESSION_MAX_DAYS")
    if not 0 <= settings.SESSION_RENEW_MINUTES < settings.SESSION_IDLE_HOURS * 60:
        raise ConfigError("SESSION_RENEW_MINUTES: must be 0 or more and below SESSION_IDLE_HOURS")
    if settings.SYNC_SESSION_RETENTION_DAYS < 1:
        raise ConfigError("SYNC_SESSION_RETENTION_DAYS: must be at least 1 (days)")
    if settings.AUDIT_RETENTION_DAYS < 1:
        raise ConfigError("AUDIT_RETENTION_DAYS: must be at least 1 (days)")
    if settings.SYNC_INTERVAL_MINUTES < 1:
        raise ConfigError("SYNC_INTERVAL_MINUTES: must be at least 1")
    if settings.SYNC_SAFETY_POLL_MINUTES < 1:
        raise ConfigError("SYNC_SAFETY_POLL_MINUTES: must be at least 1")
    if settings.APP_GRANT_RECHECK_MINUTES < 1:
        raise ConfigError("APP_GRANT_RECHECK_MINUTES: must be at least 1")
    if not 1 <= settings.SYNC_HEARTBEAT_SECONDS < settings.SYNC_STALE_SECONDS:
        raise ConfigError("SYNC_HEARTBEAT_SECONDS: must be at least 1 and below SYNC_STALE_SECONDS")
    if settings.WRITER_LEASE_SECONDS <= settings.HTTP_TIMEOUT_SECONDS:
        # A dead writer's last request must have ended before anyone writes its rows again.
        raise ConfigError("WRITER_LEASE_SECONDS: must be longer than HTTP_TIMEOUT_SECONDS")
    for key in settings.ENCRYPTION_KEYS:
        try:
            valid = len(base64.urlsafe_b64decode(key.encode())) == 32
        except (ValueError, binascii.Error):
            valid = False
        if not valid:
            raise ConfigError(
                "ENCRYPTION_KEYS: each key must be a Fernet key (32 url-safe base64 bytes); "
                "make one with `python -c 'from cryptography.fernet import Fernet; "
                "print(Fernet.generate_key().decode())'`"
            )
    for name, check in (
        ("OFFICE_JS_URL", lambda: check_office_js_url(settings.OFFICE_JS_URL)),
        ("FRAME_ANCESTORS_EXTRA", lambda: frame_ancestors(settings.FRAME_ANCESTORS_EXTRA)),
    ):
        try:
            check()
        except ValueError as exc:
            raise ConfigError(f"{name}: {exc}") from None
    try:
        uuid.UUID(settings.ADDIN_ID)
    except ValueError:
        raise ConfigError(f"ADDIN_ID: expected a GUID, got {settings.ADDIN_ID!r}") from None
    if settings.CA_BUNDLE and not Path(settings.CA_BUNDLE).is_file():
        raise ConfigError(f"CA_BUNDLE: no such file {settings.CA_BUNDLE!r}")
    if settings.is_production:
        from .config_production import validate_production

        validate_production(settings)


def sqlite_path(database_url: str) -> Path | None:
    prefix = "sqlite:///"
    return Path(database_url[len(prefix) :]) if database_url.startswith(prefix) else None


__all__ = ["ConfigError", "Settings", "load_settings", "INSTANCE_DIR", "PROJECT_ROOT"]
