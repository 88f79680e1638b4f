"""Data controls: the form, then a confirmation page with the diff and the rule preview
(how many saved items the change would have excluded, with a sample), then the save —
audited with every setting's before and after."""

from __future__ import annotations

import json

from flask import flash, g, redirect, render_template, request, url_for

from ..errors import ApiError
from ..policy import preview_org_policy
from ..policy.store import org_locks
from . import bp
from .controls import LABELS, changes_from, diff_rows, form_fields, parse_form
from .settings_change import change_org_settings

LOCK_PREFIX = "lock:"


def _locks_from_form() -> set[str]:
    return {k[len(LOCK_PREFIX) :] for k in request.form if k.startswith(LOCK_PREFIX)}


@bp.get("/controls")
def controls():
    return render_template(
        "admin/controls.html", title="Data controls", sections=form_fields(g.org.id)
    )


@bp.post("/controls/preview")
def controls_preview():
    values, errors = parse_form(request.form)
    locks = _locks_from_form()
    changes, invalid = ({}, {}) if errors else changes_from(g.org.id, values)
    errors = {**errors, **invalid}
    if errors:
        return render_template(
            "admin/controls.html",
            title="Data controls",
            sections=form_fields(g.org.id, values, errors, locks),
            error_count=len(errors),
        ), 400
    current_locks = org_locks(g.org.id)
    lock_changes = {
        "locked": sorted(locks - current_locks),
        "unlocked": sorted(current_locks - locks),
    }
    if not changes and not any(lock_changes.values()):
        flash("Nothing changed.")
        return redirect(url_for("admin.controls"))
    preview = preview_org_policy(g.org.id, changes) if changes else None
    return render_template(
        "admin/controls_confirm.html",
        title="Confirm data controls",
        rows=diff_rows(g.org.id, changes),
        preview=preview,
        lock_changes=lock_changes,
        labels=LABELS,
        payload=json.dumps({"changes": changes, "locks": sorted(locks)}),
    )


@bp.post("/controls/save")
def controls_save():
    try:
        payload = json.loads(request.form.get("payload", ""))
        changes, locks = payload["changes"], payload["locks"]
        if not isinstance(changes, dict) or not isinstance(locks, list):
            raise ValueError
    except (ValueError, KeyError, TypeError):
        raise ApiError(
            400, "invalid_form", "The confirmation form was damaged; start again."
        ) from None
    change_org_settings(g.org, g.user, changes, locks)
    flash("Data controls saved. They apply at each user's next sync session.")
    return redirect(url_for("admin.controls"))
