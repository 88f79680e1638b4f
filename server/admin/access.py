"""Who may open the admin console: a browser signed in through the start page (the session
token in Flask's signed cookie), who is an admin of their organisation.

Signed out → redirect to sign-in (back here afterwards); signed in but not an admin → 403.
Every route of the blueprint passes here (a before_request hook, so a view added later cannot
forget it). Ids of another organisation are answered 404 by the views' scoped lookups
(`org_user_or_404`).
"""

from __future__ import annotations

from flask import (
    Blueprint,
    abort,
    current_app,
    g,
    redirect,
    render_template,
    request,
    session,
    url_for,
)
from sqlalchemy import select

from ..auth.decorators import COOKIE_TOKEN_KEY, _set_current
from ..auth.sessions import user_for_session
from ..db import get_session
from ..errors import ApiError
from ..models.tenancy import User


def _require_admin():
    user = user_for_session(session.get(COOKIE_TOKEN_KEY, ""))
    if user is None:
        return redirect(url_for("auth.signin_start", next=request.full_path.rstrip("?")))
    try:
        _set_current(user)
    except ApiError as exc:
        return render_template("admin/refused.html", message=exc.message), exc.status
    if not user.is_admin:
        message = "Only an administrator of your organisation can open the admin console."
        return render_template("admin/refused.html", message=message), 403
    return None


def protect(bp: Blueprint) -> None:
    bp.before_request(_require_admin)

    @bp.context_processor
    def _pages():
        return {"admin_pages": current_app.view_functions}


def org_user_or_404(user_id: int) -> User:
    """A user of the signed-in admin's organisation; another organisation's id is a 404."""
    user = get_session().scalar(select(User).where(User.id == user_id, User.org_id == g.org.id))
    if user is None:
        abort(404)
    return user
