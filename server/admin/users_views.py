"""Users page: everyone of the tenant with sync health, sortable, filterable, paginated, and
actions on one person or a selection (bulk), plus the "only allowed users" switch and the
directory's "refresh now"."""

from __future__ import annotations

from flask import flash, g, redirect, render_template, request, url_for
from sqlalchemy import select

from ..db import get_session
from ..errors import ApiError
from ..models.admin import DirectoryMember
from ..models.tenancy import User
from . import bp, roles_service
from .app_directory import in_application_mode
from .app_mode import set_picked
from .directory import DirectoryUnavailable, refresh_directory
from .people import SORTABLE, STATES, PeopleFilter, list_people
from .tables import table_params, with_args

ACTIONS = {
    "allow": "Allow",
    "disallow": "Disallow",
    "enable_sync": "Enable sync",
    "disable_sync": "Disable sync",
    "sync_now": "Sync now",
    "revoke_microsoft": "Revoke Microsoft connection",
    "revoke_crm": "Revoke CRM connection",
    "make_admin": "Make admin",
    "remove_admin": "Remove admin",
    "scope_add": "Add to application scope",
    "scope_remove": "Remove from application scope",
}
# Actions that need a Courier user (someone who signed in), not only a directory entry.
USER_ACTIONS = frozenset(ACTIONS) - {"allow", "disallow", "scope_add", "scope_remove"}
MAX_BULK = 500


def _filter() -> PeopleFilter:
    args = request.args
    return PeopleFilter(
        q=args.get("q", "")[:200].strip(),
        role=args.get("role", ""),
        allowed=args.get("allowed", ""),
        state=args.get("state", ""),
        scope=args.get("scope", ""),
    )


@bp.get("/users")
def users():
    params = table_params(SORTABLE, "name")
    rows, total = list_people(g.org, _filter(), params)
    return render_template(
        "admin/users.html",
        title="Users",
        rows=rows,
        total=total,
        params=params,
        args=request.args,
        states=STATES,
        actions=ACTIONS,
        org=g.org,
    )


def _back():
    target = request.form.get("back", "")
    if target.startswith("/admin/") and not target.startswith("//"):
        return redirect(target)
    return redirect(url_for("admin.users"))


def _label(object_id: str) -> str:
    db = get_session()
    user = db.scalar(select(User).where(User.org_id == g.org.id, User.object_id == object_id))
    if user is not None:
        return user.email
    member = db.scalar(
        select(DirectoryMember).where(
            DirectoryMember.org_id == g.org.id, DirectoryMember.object_id == object_id
        )
    )
    return member.email if member else ""


def apply_action(action: str, object_id: str) -> str:
    """Run one action on one person of this organisation; returns what happened."""
    db = get_session()
    user = db.scalar(select(User).where(User.org_id == g.org.id, User.object_id == object_id))
    member_known = user is not None or _label(object_id)
    if not member_known:
        raise ApiError(404, "not_found", "No such person in your organisation.")
    if action in ("allow", "disallow"):
        label = _label(object_id)
        roles_service.set_allowed(g.org, object_id, label, action == "allow")
        return label
    if action in ("scope_add", "scope_remove"):  # application mode's picked users
        label = _label(object_id)
        set_picked(g.org, object_id, label, action == "scope_add")
        return label
    if user is None:
        raise ApiError(409, "not_signed_in", "This person has not signed in to Courier yet.")
    if action in ("make_admin", "remove_admin"):
        if action == "remove_admin" and user.id == g.user.id:
            raise ApiError(409, "own_role", "You cannot remove your own admin role.")
        roles_service.set_admin(user, action == "make_admin")
    elif action in ("enable_sync", "disable_sync"):
        roles_service.set_sync_enabled(user, action == "enable_sync")
    elif action == "sync_now":
        roles_service.sync_now(user)
    elif action == "revoke_microsoft":
        roles_service.revoke_microsoft(user)
    elif action == "revoke_crm":
        roles_service.revoke_crm(user)
    return user.email


@bp.post("/users/action")
def users_action():
    action = request.form.get("action", "")
    selected = list(dict.fromkeys(request.form.getlist("selected")))[:MAX_BULK]
    if action not in ACTIONS:
        flash("Choose an action.", "error")
        return _back()
    if not selected:
        flash("Select at least one person.", "error")
        return _back()
    done, problems = [], []
    for object_id in selected:
        try:
            done.append(apply_action(action, object_id))
        except ApiError as exc:
            problems.append(f"{_label(object_id) or object_id}: {exc.message}")
    if done:
        flash(
            f"{ACTIONS[action]}: {', '.join(done[:10])}"
            + (f" and {len(done) - 10} more" if len(done) > 10 else "")
        )
    for problem in problems[:10]:
        flash(problem, "error")
    return _back()


@bp.post("/users/restriction")
def users_restriction():
    roles_service.set_restriction(g.org, request.form.get("restrict") == "on")
    flash(
        "Only allowed users may use Courier now."
        if g.org.restrict_to_allowed
        else "Everyone in your organisation may use Courier now."
    )
    return _back()


@bp.post("/users/refresh")
def users_refresh():
    if in_application_mode(g.org):  # the app-only token reads the directory and the scope
        from .app_mode_views import _apply_now

        _apply_now("Directory refreshed")
        return _back()
    try:
        count = refresh_directory(g.user)
    except DirectoryUnavailable as exc:
        flash(f"The directory could not be read: {exc}", "error")
    else:
        flash(f"Directory refreshed: {count} people.")
    return _back()


__all__ = ["with_args"]
