"""Overview page (`admin.console`, the console's home at /admin/)."""

from __future__ import annotations

from flask import g, render_template

from . import bp
from .overview import overview


@bp.get("/")
def console():
    return render_template("admin/overview.html", title="Overview", o=overview(g.org))
