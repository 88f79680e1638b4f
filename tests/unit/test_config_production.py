"""Production refuses unsafe settings (server/config_production.py): each refusal names the
variable and the fix, and each has a test here that starts from a complete, acceptable
production environment and breaks exactly one thing."""

from __future__ import annotations

import secrets

import pytest

from server.config import ConfigError, Settings, load_settings
from server.config_production import (
    MIN_SECRET_BITS,
    estimated_entropy_bits,
    sandbox_url_problem,
)

KEY = "x" * 43 + "="  # 32 url-safe base64 bytes
TENANT = "11111111-2222-3333-4444-555555555555"

# What an operator following the README sets (as strings, as in the environment).
PRODUCTION = {
    "ENV": "production",
    "SANDBOX_ENABLED": "false",
    "SECRET_KEY": "q8ZfV2mN7xKcR4tLwP9sB3hJ6yD1gE5aU0oIiTnMvQ_-",  # 44 base64url: 264 bits
    "ENCRYPTION_KEYS": KEY,
    "REDIS_URL": "redis://redis:6379/0",
    "DATABASE_URL": "postgresql+psycopg://courier:pw@postgres:5432/courier",
    "BASE_URL": "https://courier.example.com",
    "MS_AUTHORITY_HOST": "https://login.microsoftonline.com",
    "GRAPH_BASE_URL": "https://graph.microsoft.com/v1.0",
    "MS_CLIENT_ID": TENANT,
    "MS_CLIENT_SECRET": "from-entra~8Q~abcdefghijklmnop",
    "MS_API_AUDIENCE": f"api://{TENANT}",
    "ALLOWED_TENANTS": TENANT,
    "ADDIN_ID": "0f6d2b9e-3c51-4a7e-9d0b-6e2f1a8c4b73",
}
SALESFORCE = {
    **PRODUCTION,
    "CRM_ADAPTER": "salesforce",
    "SALESFORCE_LOGIN_URL": "https://login.salesforce.com",
    "SALESFORCE_CLIENT_ID": "3MVG9ABCDEFGHIJKLMNOPQRSTUVWXYZ",
    "SALESFORCE_CLIENT_SECRET": "A1B2C3D4E5F6",
}


def refused(env: dict, variable: str, fix: str) -> str:
    with pytest.raises(ConfigError) as raised:
        load_settings(env)
    message = str(raised.value)
    assert message.startswith(f"{variable}:"), message
    assert fix in message, message
    return message


def test_the_complete_production_environments_are_accepted():
    assert load_settings(PRODUCTION).is_production
    assert load_settings(SALESFORCE).CRM_ADAPTER == "salesforce"


@pytest.mark.parametrize(
    "value",
    [
        Settings.MS_AUTHORITY_HOST,  # the sandbox, https://127.0.0.1:8010
        "https://localhost:8010",
        "https://10.0.0.5",
        "https://[::1]:8010",
        "https://sandbox:8010",
        "https://login.sandbox.test",
        "http://login.microsoftonline.com",
    ],
)
def test_sandbox_authority_host_is_refused(value):
    refused(
        {**PRODUCTION, "MS_AUTHORITY_HOST": value},
        "MS_AUTHORITY_HOST",
        "MS_AUTHORITY_HOST=https://login.microsoftonline.com",
    )


@pytest.mark.parametrize("value", [Settings.GRAPH_BASE_URL, "https://127.0.0.1/graph/v1.0"])
def test_sandbox_graph_base_url_is_refused(value):
    refused(
        {**PRODUCTION, "GRAPH_BASE_URL": value},
        "GRAPH_BASE_URL",
        "GRAPH_BASE_URL=https://graph.microsoft.com/v1.0",
    )


def test_sandbox_salesforce_login_url_is_refused_when_salesforce_is_the_crm():
    env = {**SALESFORCE, "SALESFORCE_LOGIN_URL": Settings.SALESFORCE_LOGIN_URL}
    refused(env, "SALESFORCE_LOGIN_URL", "https://login.salesforce.com")
    # With the built-in CRM, the Salesforce settings are not used.
    assert load_settings({**PRODUCTION, "SALESFORCE_LOGIN_URL": Settings.SALESFORCE_LOGIN_URL})


@pytest.mark.parametrize("name", ["MS_CLIENT_ID", "MS_CLIENT_SECRET", "MS_API_AUDIENCE"])
def test_development_microsoft_client_is_refused(name):
    refused({**PRODUCTION, name: getattr(Settings, name)}, name, "Entra app registration")


@pytest.mark.parametrize("name", ["SALESFORCE_CLIENT_ID", "SALESFORCE_CLIENT_SECRET"])
def test_development_salesforce_client_is_refused(name):
    refused({**SALESFORCE, name: getattr(Settings, name)}, name, "Salesforce connected app")


def test_sqlite_is_refused_unless_explicitly_allowed():
    sqlite = {**PRODUCTION, "DATABASE_URL": "sqlite:////srv/courier/courier.db"}
    refused(sqlite, "DATABASE_URL", "ALLOW_SQLITE_IN_PRODUCTION=true")
    allowed = load_settings({**sqlite, "ALLOW_SQLITE_IN_PRODUCTION": "true"})
    assert allowed.DATABASE_URL == "sqlite:////srv/courier/courier.db"


def test_no_silent_sqlite_fallback_when_database_url_is_unset():
    env = {k: v for k, v in PRODUCTION.items() if k != "DATABASE_URL"}
    refused(env, "DATABASE_URL", "postgresql+psycopg://")
    # Not even when SQLite is allowed: the file must be named on purpose.
    refused({**env, "ALLOW_SQLITE_IN_PRODUCTION": "true"}, "DATABASE_URL", "no silent SQLite")
    assert load_settings({}).DATABASE_URL.startswith("sqlite:///")  # development keeps it


@pytest.mark.parametrize(
    "secret",
    [
        "x",  # accepted before
        "s3cret",
        "s" * 200,
        "dev-only-secret-key-change-me",
        "9f86d081884c7d659a2feaa0c55ad015",  # 16 random bytes in hex: half of what is needed
        "ab" * 100,
    ],
)
def test_secrets_with_less_than_32_bytes_of_entropy_are_refused(secret):
    refused({**PRODUCTION, "SECRET_KEY": secret}, "SECRET_KEY", "secrets.token_urlsafe(32)")


def test_the_default_development_secret_is_refused():
    refused({**PRODUCTION, "SECRET_KEY": Settings.SECRET_KEY}, "SECRET_KEY", "token_urlsafe")


@pytest.mark.parametrize("make", [secrets.token_urlsafe, secrets.token_hex], ids=["b64", "hex"])
def test_generated_secrets_are_accepted(make):
    for _ in range(50):  # whatever characters this draw happens to hold
        secret = make(32)
        assert estimated_entropy_bits(secret) >= MIN_SECRET_BITS
        assert secret == load_settings({**PRODUCTION, "SECRET_KEY": secret}).SECRET_KEY


def test_empty_allowed_tenants_is_refused_unless_the_deployment_serves_many():
    open_to_all = {**PRODUCTION, "ALLOWED_TENANTS": ""}
    refused(open_to_all, "ALLOWED_TENANTS", "MULTI_TENANT=true")
    assert load_settings({**open_to_all, "MULTI_TENANT": "true"}).ALLOWED_TENANTS == ()


@pytest.mark.parametrize(
    ("name", "fix"),
    [
        ("SANDBOX_ENABLED", "SANDBOX_ENABLED=false"),
        ("ENCRYPTION_KEYS", "Fernet.generate_key()"),
        ("REDIS_URL", "REDIS_URL=redis://"),
        ("BASE_URL", "https"),
    ],
)
def test_the_earlier_refusals_also_say_the_fix(name, fix):
    broken = {
        "SANDBOX_ENABLED": "true",
        "ENCRYPTION_KEYS": "",
        "REDIS_URL": "",
        "BASE_URL": "http://courier.example.com",
    }
    refused({**PRODUCTION, name: broken[name]}, name, fix)


def test_development_and_test_keep_their_embedded_defaults():
    assert load_settings({"ENV": "development"}).MS_AUTHORITY_HOST == Settings.MS_AUTHORITY_HOST
    assert load_settings({"ENV": "test", "SECRET_KEY": "x"}).SECRET_KEY == "x"


@pytest.mark.parametrize(
    ("url", "ok"),
    [
        ("https://login.microsoftonline.com", True),
        ("https://login.microsoftonline.us", True),
        ("https://acme.my.salesforce.com", True),
        ("https://20.190.128.1", True),  # a public address is not the sandbox
        ("https://127.0.0.1:8010", False),
        ("https://192.168.1.10", False),
        ("https://169.254.169.254", False),
        ("https://courier.local", False),
        ("ftp://login.microsoftonline.com", False),
        ("https://", False),
    ],
)
def test_sandbox_url_rule(url, ok):
    assert (sandbox_url_problem(url) is None) is ok
