from __future__ import annotations

import pytest

from server.config import ConfigError, Settings, load_settings

KEY = "x" * 43 + "="  # 32 url-safe base64 bytes


def test_defaults_need_no_environment():
    settings = load_settings({})
    assert settings.PORT == 8000
    assert settings.DATABASE_URL.startswith("sqlite:///")
    assert settings.CRM_ADAPTER == "builtin"


def test_environment_values_are_parsed_by_type():
    settings = load_settings(
        {"PORT": "9001", "SANDBOX_ENABLED": "no", "ALLOWED_TENANTS": "a, b,,c"}
    )
    assert settings.PORT == 9001
    assert settings.SANDBOX_ENABLED is False
    assert settings.ALLOWED_TENANTS == ("a", "b", "c")


@pytest.mark.parametrize(
    ("env", "named"),
    [
        ({"PORT": "eighty"}, "PORT"),
        ({"PORT": "70000"}, "PORT"),
        ({"SANDBOX_ENABLED": "maybe"}, "SANDBOX_ENABLED"),
        ({"ENV": "staging"}, "ENV"),
        ({"DATABASE_URL": "mysql://x"}, "DATABASE_URL"),
        ({"REDIS_URL": "localhost:6379"}, "REDIS_URL"),
        ({"CA_BUNDLE": "/nonexistent/ca.pem"}, "CA_BUNDLE"),
        ({"SYNC_INTERVAL_MINUTES": "0"}, "SYNC_INTERVAL_MINUTES"),
        ({"ENCRYPTION_KEYS": "not-a-fernet-key"}, "ENCRYPTION_KEYS"),
        ({"CRM_CURRENCY": "dollars"}, "CRM_CURRENCY"),
    ],
)
def test_bad_values_fail_naming_the_variable(env, named):
    with pytest.raises(ConfigError, match=named):
        load_settings(env)


def test_production_refuses_the_sandbox_and_default_secrets():
    # Each production refusal has its own test in tests/unit/test_config_production.py.
    from tests.unit.test_config_production import PRODUCTION

    base = {"ENV": "production", "REDIS_URL": "redis://r:6379/0"}
    with pytest.raises(ConfigError, match="SANDBOX_ENABLED"):
        load_settings({**PRODUCTION, **base, "SANDBOX_ENABLED": "true"})
    with pytest.raises(ConfigError, match="SECRET_KEY"):
        load_settings({**PRODUCTION, "SECRET_KEY": Settings.SECRET_KEY})
    with pytest.raises(ConfigError, match="ADDIN_ID"):  # each deployment has its own GUID
        load_settings({**PRODUCTION, "ADDIN_ID": Settings.ADDIN_ID})
    with pytest.raises(ConfigError, match="MS_CLIENT_SECRET"):
        load_settings({**PRODUCTION, "MS_CLIENT_SECRET": Settings.MS_CLIENT_SECRET})
    with pytest.raises(ConfigError, match="BASE_URL"):
        load_settings({**PRODUCTION, "BASE_URL": "http://courier.example.com"})
    ok = load_settings(PRODUCTION)
    assert ok.is_production


def test_every_setting_is_documented_in_env_example():
    from server.config import PROJECT_ROOT

    text = (PROJECT_ROOT / ".env.example").read_text()
    documented = {
        line.split("=", 1)[0].lstrip("# ").strip() for line in text.splitlines() if "=" in line
    }
    missing = [f for f in Settings.__dataclass_fields__ if f not in documented]
    assert not missing, f"settings missing from .env.example: {missing}"


def test_an_unknown_crm_adapter_fails_at_start():
    from server import create_app

    with pytest.raises(ConfigError, match="CRM_ADAPTER"):
        create_app({"CRM_ADAPTER": "hubspot", "REDIS_URL": "redis://127.0.0.1:1/0"})
