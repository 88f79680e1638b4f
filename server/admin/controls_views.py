"""Data controls: the form, then a confirmation page with the diff and the rule preview
(how many saved items the change would have excluded, with a sample), then the save —
audited with every setting's before and after."""

from __future__ import annotations

import json

from flask import flash, g, redirect, render_template, request, url_for

from ..errors import ApiError
from ..policy import org_settings, preview_org_policy, update_org_policy
from ..policy.store import org_locks, set_org_locks
from . import bp
from .audit import record_audit
from .controls import LABELS, changes_from, diff_rows, form_fields, parse_form

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
    before = org_settings(g.org.id)
    locks_before = sorted(org_locks(g.org.id))
    after = update_org_policy(g.org, changes, actor=g.user) if changes else before
    set_org_locks(g.org.id, [str(n) for n in locks], g.user)
    locks_after = sorted(org_locks(g.org.id))
    names = sorted(changes)
    record_audit(
        g.org.id,
        "settings.changed",
        target_type="organisation",
        target_id=g.org.id,
        target=g.org.name,
        before={"settings": {n: before.get(n) for n in names}, "locked": locks_before},
        after={"settings": {n: after.get(n) for n in names}, "locked": locks_after},
    )
    flash("Data controls saved. They apply at each user's next sync session.")
    return redirect(url_for("admin.controls"))
