"""The sandbox service: a small Flask app standing in for Microsoft 365 and Salesforce.

It runs as its own process (`python -m server.sandbox --port 8010`, started by `make run`) or,
in tests, on a free port in a background thread (tests/sandbox_fixtures.py). It serves HTTPS
with the development CA (server/sandbox/devca.py).

Parts are modules listed in SANDBOX_MODULES. Each exposes `bp` (a Blueprint carrying its own
url_prefix) and may expose `init_state(app)`, which builds its in-memory state in
`app.extensions`; it runs at creation and again on POST /_sandbox/reset. Switches and controls
are HTTP endpoints under /_sandbox/..., so they work across processes.
"""

from __future__ import annotations

import importlib
from collections.abc import Mapping
from typing import Any

from flask import Flask, jsonify

from ..config import Settings

# One line per part of the sandbox (additive edits).
SANDBOX_MODULES: list[str] = [
    "server.sandbox.identity",
    "server.sandbox.identity_token",
    "server.sandbox.identity_switches",
    "server.sandbox.identity_consent",
    "server.sandbox.identity_app",
    "server.sandbox.graph",
    "server.sandbox.directory_changes",
    "server.sandbox.groups",
    "server.sandbox.salesforce",
]


def default_config() -> dict[str, Any]:
    """The app registrations the sandbox knows: the product's defaults from Settings."""
    defaults = Settings()
    return {
        "SANDBOX_CLIENTS": {
            defaults.MS_CLIENT_ID: {
                "secret": defaults.MS_CLIENT_SECRET,
                "api_audience": defaults.MS_API_AUDIENCE,
            }
        },
        # Redirect URIs allowed besides any http(s) URL on localhost / 127.0.0.1.
        "SANDBOX_REDIRECT_URIS": (),
        "SALESFORCE_CLIENT_ID": defaults.SALESFORCE_CLIENT_ID,
        "SALESFORCE_CLIENT_SECRET": defaults.SALESFORCE_CLIENT_SECRET,
    }


def config_from_settings(settings: Settings) -> dict[str, Any]:
    """Sandbox config matching a product Settings (its client ids and secrets)."""
    config = default_config()
    config["SANDBOX_CLIENTS"] = {
        settings.MS_CLIENT_ID: {
            "secret": settings.MS_CLIENT_SECRET,
            "api_audience": settings.MS_API_AUDIENCE,
        }
    }
    config["SALESFORCE_CLIENT_ID"] = settings.SALESFORCE_CLIENT_ID
    config["SALESFORCE_CLIENT_SECRET"] = settings.SALESFORCE_CLIENT_SECRET
    return config


def _init_states(app: Flask, modules: list) -> None:
    for module in modules:
        init = getattr(module, "init_state", None)
        if init is not None:
            init(app)


def create_sandbox_app(config: Mapping[str, Any] | None = None) -> Flask:
    app = Flask(__name__)
    app.config.update(default_config())
    app.config.update(config or {})
    app.json.sort_keys = False
    modules = [importlib.import_module(name) for name in SANDBOX_MODULES]
    for module in modules:
        app.register_blueprint(module.bp)
    _init_states(app, modules)

    @app.post("/_sandbox/reset")
    def reset():
        _init_states(app, modules)
        return jsonify({"reset": True, "parts": SANDBOX_MODULES})

    @app.get("/_sandbox/health")
    def health():
        return jsonify({"status": "ok", "parts": SANDBOX_MODULES})

    return app
