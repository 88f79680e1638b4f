"""The admin console (blueprint "admin", pages under /admin): overview, users, user detail,
data controls, activity, sync mode, deployment, audit log, jobs. Every route is behind the
admin check in access.py (browser session from the start page's sign-in, never the pane's
token)."""

from __future__ import annotations

from flask import Blueprint, Flask

bp = Blueprint("admin", __name__, url_prefix="/admin")

# The blueprint is set up once, at import (views register themselves on `bp`); apps only
# register it.
from . import (  # noqa: E402, F401
    access,
    activity_views,
    app_mode_views,
    audit_views,
    controls_views,
    deployment_views,
    jobs_views,
    overview_views,
    user_views,
    users_views,
)

access.protect(bp)


def init_app(app: Flask) -> None:
    from ..rules.explain import reason_text
    from . import cli
    from .tables import with_args

    app.jinja_env.globals["with_args"] = with_args
    app.jinja_env.globals["reason_text"] = reason_text
    app.register_blueprint(bp)
    cli.init_app(app)
