"""Background sync: sessions (one user's run), the page pipeline, scheduling, health."""

from __future__ import annotations

from flask import Flask


def init_app(app: Flask) -> None:
    """Register the minute tick's scheduling hook and the sync blueprints."""
    from . import health, scheduler, webhooks

    scheduler.init_app(app)
    app.register_blueprint(health.bp)
    app.register_blueprint(webhooks.bp)
