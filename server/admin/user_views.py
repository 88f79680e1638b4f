"""User detail page: effective settings with their level, sync sessions, and actions."""

from __future__ import annotations

from flask import g, render_template, request

from ..auth.roles import role_sources
from ..sync.health import health_for
from . import bp
from .access import org_user_or_404
from .user_detail import effective_settings, sessions_of
from .users_views import ACTIONS
from .why import LookupUnavailable, lookup


@bp.get("/users/<int:user_id>")
def user_detail(user_id: int):
    user = org_user_or_404(user_id)
    query = request.args.get("why", "").strip()[:200]
    findings, problem = [], ""
    if query:
        try:
            findings = lookup(user, query)
        except LookupUnavailable as exc:
            problem = str(exc)
    return render_template(
        "admin/user.html",
        title=user.display_name or user.email,
        person=user,
        health=health_for(user),
        sources=role_sources(user),
        settings=effective_settings(user),
        sessions=sessions_of(user),
        actions=ACTIONS,
        is_self=user.id == g.user.id,
        why_query=query,
        findings=findings,
        why_problem=problem,
    )
