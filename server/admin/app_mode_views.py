"""Sync mode page (/admin/sync-mode): delegated or application mode, the admin consent to the
application permissions (Microsoft's admin consent endpoint), who is synced (picked users or
one Microsoft 365 group), and the directory refresh that applies it."""

from __future__ import annotations

from flask import current_app, flash, g, redirect, render_template, request, url_for

from ..auth.app_tokens import AppGrantMissing, app_grant_status, record_app_consent
from ..auth.tokens import TokenUnavailable
from ..db import get_session
from ..errors import ApiError
from ..mail.graph_errors import GraphError
from . import bp
from .app_directory import choice_for, picked_ids, refresh_app_scope
from .app_mode import choose_group, choose_users_kind, describe, scope_counts, search_groups
from .app_mode import set_mode as change_mode
from .audit import record_org_audit
from .deployment_views import admin_consent_redirect, consent_done_page
from .directory import DirectoryUnavailable

# The consent asks for "https://graph.microsoft.com/.default" (deployment_views): every
# permission configured on the app registration, application ones included — the form the
# admin consent endpoint takes (https://learn.microsoft.com/entra/identity-platform/v2-admin-consent).
CONSENT_STATE_KEY = "app_consent_state"


def _grant_status(check: bool) -> dict:
    return app_grant_status(g.org, check=check)


def _return_url() -> str:
    return f"{current_app.config['BASE_URL'].rstrip('/')}{url_for('admin.app_consent_done')}"


@bp.get("/sync-mode")
def sync_mode():
    org = g.org
    choice = choice_for(org)
    picks = picked_ids(org)
    grant = _grant_status(check=org.sync_mode == "application")
    group_q = request.args.get("group_q", "")[:100].strip()
    groups, group_problem = None, ""
    if "group_q" in request.args:
        try:
            groups = search_groups(org, group_q)
        except GraphError as exc:
            group_problem = f"Microsoft Graph answered: {exc}"
        except (AppGrantMissing, TokenUnavailable) as exc:
            group_problem = f"No app-only access yet ({exc}): grant consent first."
    return render_template(
        "admin/sync_mode.html",
        title="Sync mode",
        org=org,
        grant=grant,
        scope=describe(choice, picks),
        choice=choice,
        counts=scope_counts(org),
        group_q=group_q,
        groups=groups,
        group_problem=group_problem,
        consent_return=_return_url(),
    )


@bp.post("/sync-mode/mode")
def sync_mode_set():
    mode = request.form.get("mode", "")
    try:
        changed = change_mode(g.org, mode)
    except ApiError as exc:
        flash(exc.message, "error")
        return redirect(url_for("admin.sync_mode"))
    get_session().commit()
    if changed:
        flash(
            "Application mode is on: the chosen users are synced without their sign-in."
            if mode == "application"
            else "Delegated mode is on: each user's own sign-in feeds their sync."
        )
    return redirect(url_for("admin.sync_mode"))


@bp.post("/sync-mode/consent")
def app_consent_start():
    """To Microsoft's admin consent page for the tenant's application permissions."""
    return admin_consent_redirect(CONSENT_STATE_KEY, _return_url())


@bp.get("/sync-mode/consent/done")
def app_consent_done():
    def answered(ok: bool, args) -> None:
        if ok:
            record_app_consent(get_session(), g.org)
        record_org_audit(
            g.org,
            "consent.app_granted" if ok else "consent.app_failed",
            after={
                "scope": args.get("scope", "")[:300],
                "error": args.get("error", "")[:100],
                "error_description": args.get("error_description", "")[:300],
            },
        )

    return consent_done_page(
        CONSENT_STATE_KEY,
        "admin/app_consent_done.html",
        "Consent for application permissions",
        "Courier may now read mail and calendars of the users you choose, and your directory, "
        "without each user signing in.",
        answered,
        no_answer="no answer",
    )


def _apply_now(what: str) -> None:
    """Apply the scope at once (the daily refresh would, too) and say what happened."""
    try:
        change = refresh_app_scope(g.org)
    except (AppGrantMissing, TokenUnavailable, DirectoryUnavailable) as exc:
        flash(f"{what}; it applies at the next directory refresh ({exc}).", "error")
        return
    flash(
        f"{what}: {len(change.joiners)} joined, {len(change.leavers)} left the scope, "
        f"{len(change.staying)} stay."
    )


@bp.post("/sync-mode/scope")
def sync_mode_scope():
    kind = request.form.get("kind", "")
    if kind == "group":
        group_id = request.form.get("group_id", "")[:64].strip()
        if not group_id:
            flash("Choose a group.", "error")
            return redirect(url_for("admin.sync_mode"))
        try:
            group = choose_group(g.org, group_id)
        except ApiError as exc:
            if exc.status == 404:
                raise
            flash(exc.message, "error")
            return redirect(url_for("admin.sync_mode"))
        except (AppGrantMissing, TokenUnavailable, GraphError) as exc:
            flash(f"The group could not be read ({exc}): grant consent first.", "error")
            return redirect(url_for("admin.sync_mode"))
        get_session().commit()
        _apply_now(f"Scope: the group {group['name']}")
    elif kind == "users":
        choose_users_kind(g.org)
        get_session().commit()
        _apply_now("Scope: the users picked on the Users page")
    else:
        flash("Choose users or a group.", "error")
    return redirect(url_for("admin.sync_mode"))


@bp.post("/sync-mode/refresh")
def sync_mode_refresh():
    _apply_now("Directory refreshed")
    return redirect(url_for("admin.sync_mode"))
