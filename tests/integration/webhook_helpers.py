"""Change notifications in tests: the settings that switch them on (the `served` fixture,
tests/integration/conftest.py, serves our app at their BASE_URL)."""

from __future__ import annotations

from server.redis_server import free_port
from tests.integration.sync_helpers import FAST_RETRIES


def webhooks_config(sandbox) -> dict:
    return {
        **sandbox.settings(),
        **FAST_RETRIES,
        "SYNC_WEBHOOKS_ENABLED": True,
        "BASE_URL": f"http://127.0.0.1:{free_port()}",
    }
