"""Courier: the CRM beside every email. `create_app` is the only place that wires things."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from flask import Flask

from .config import load_settings


def create_app(config: Mapping[str, Any] | None = None) -> Flask:
    """Build the app from the environment, with `config` overriding settings (tests)."""
    settings = load_settings(overrides=config)
    app = Flask(__name__, instance_path=settings.INSTANCE_PATH)
    app.config.update(settings.as_flask_config())
    app.config["SETTINGS"] = settings
    app.config["MAX_CONTENT_LENGTH"] = settings.MAX_REQUEST_BYTES
    from . import cli, db, errors, health, logs, pages, periodic, queues

    logs.init_app(app)
    db.init_app(app)
    queues.init_app(app)
    periodic.init_app(app)
    errors.init_app(app)
    cli.init_app(app)
    app.register_blueprint(health.bp)
    app.register_blueprint(pages.bp)
    return app
