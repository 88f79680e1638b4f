"""Courier: the CRM beside every email. `create_app` is the only place that wires things."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from flask import Flask

from .config import ConfigError, load_settings


def create_app(config: Mapping[str, Any] | None = None) -> Flask:
    """Build the app from the environment, with `config` overriding settings (tests)."""
    settings = load_settings(overrides=config)
    _check_crm_adapter(settings.CRM_ADAPTER)
    app = Flask(__name__, instance_path=settings.INSTANCE_PATH)
    app.config.update(settings.as_flask_config())
    app.config["SETTINGS"] = settings
    app.config["MAX_CONTENT_LENGTH"] = settings.MAX_REQUEST_BYTES

    from . import (
        addin,
        cli,
        db,
        errors,
        health,
        logs,
        metrics,
        pages,
        periodic,
        preview,
        queues,
        ratelimit,
        request_guard,
        security,
        sync,
    )
    from .admin import init_app as init_admin
    from .api import pane as pane_api
    from .api import policy as policy_api
    from .auth import routes as auth_routes
    from .auth.key_rotation import note_keys_in_use
    from .crm.builtin import pages as crm_pages
    from .crm.salesforce import connect as salesforce_connect
    from .pane.save_queue import requeue_pending_saves

    # Infrastructure first: logs, database, Redis/RQ, errors, security headers.
    logs.init_app(app)
    metrics.init_app(app)  # early: its timer runs before every other before_request
    db.init_app(app)
    queues.init_app(app)
    periodic.init_app(app)
    errors.init_app(app)
    request_guard.init_app(app)
    security.init_app(app)
    ratelimit.init_app(app)
    cli.init_app(app)
    # Pages and APIs.
    app.register_blueprint(health.bp)
    app.register_blueprint(pages.bp)
    app.register_blueprint(auth_routes.bp)
    app.register_blueprint(auth_routes.me_bp)
    app.register_blueprint(crm_pages.bp)
    app.register_blueprint(salesforce_connect.bp)
    app.register_blueprint(pane_api.bp)
    app.register_blueprint(policy_api.bp)
    init_admin(app)
    addin.init_app(app)
    preview.init_app(app)
    # Background work: sync sessions and webhooks, and re-queueing of waiting pane saves.
    sync.init_app(app)
    periodic.register_tick_hook(app, requeue_pending_saves)
    # When each encryption key came into use (the console's "key rotation due").
    periodic.register_tick_hook(app, note_keys_in_use)
    return app


def _check_crm_adapter(name: str) -> None:
    from .crm import adapters

    if name not in adapters():
        known = ", ".join(sorted(adapters()))
        raise ConfigError(f"CRM_ADAPTER: unknown adapter {name!r} (known: {known})")
