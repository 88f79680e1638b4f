"""Data-control policy as JSON (blueprint "policy_api"): the organisation's settings for
admins, each user's own settings, and the rule preview.

    GET  /api/policy/org           admin: stored settings, effective values, defaults
    PUT  /api/policy/org           admin: change settings ({"name": value}; null resets)
    POST /api/policy/org/preview   admin: {"changes": {...}} → counts of saved items affected
    GET  /api/policy/me            the user's own settings and their effective policy
    PUT  /api/policy/me            change the user's own settings
    POST /api/policy/me/preview    the same preview over the user's own saved items
    DELETE /api/policy/me/blocklist  {"entry": address or domain}: undo "do not sync"
"""

from __future__ import annotations

from typing import Any

from flask import Blueprint, g, jsonify, request

from ..admin.settings_change import change_org_settings
from ..auth.decorators import admin_required, api_login_required
from ..errors import ApiError
from ..policy import (
    effective_policy,
    org_settings,
    preview_org_policy,
    preview_user_policy,
    remove_from_blocklist,
    update_user_policy,
    user_settings,
)
from ..policy.merge import build_policy, policy_settings
from ..policy.store import deployment_defaults, org_locks
from ..policy.validation import SETTINGS

bp = Blueprint("policy_api", __name__, url_prefix="/api/policy")


def _body() -> dict[str, Any]:
    data = request.get_json(silent=True) if request.is_json else None
    if not isinstance(data, dict):
        raise ApiError(400, "invalid_json", "Send a JSON object (application/json).")
    return data


def _changes(body: dict[str, Any]) -> dict[str, Any]:
    changes = body.get("changes", body)
    if not isinstance(changes, dict):
        raise ApiError(400, "invalid_json", "changes must be a JSON object of setting: value")
    return changes


def _catalogue(level: str) -> dict[str, dict[str, Any]]:
    """What each setting is, for forms: kind, who may change it, how lists combine."""
    out = {}
    for name, spec in SETTINGS.items():
        if level == "user" and spec.level != "user":
            continue
        entry: dict[str, Any] = {"kind": spec.kind, "level": spec.level, "merge": spec.merge}
        if spec.kind == "int":
            entry.update(min=spec.low, max=spec.high)
        if spec.choices:
            entry["choices"] = list(spec.choices)
        out[name] = entry
    return out


def _org_view() -> dict[str, Any]:
    stored = org_settings(g.org.id)
    effective = build_policy(stored, org_domains=g.org.domain_names, defaults=deployment_defaults())
    return {
        "settings": stored,
        "effective": policy_settings(effective),
        "defaults": policy_settings(build_policy({}, defaults=deployment_defaults())),
        "directory_domains": g.org.domain_names,
        "catalogue": _catalogue("org"),
    }


def _my_view() -> dict[str, Any]:
    return {
        "settings": user_settings(g.user.id),
        "effective": policy_settings(effective_policy(g.user)),
        "catalogue": _catalogue("user"),
        # Settings the organisation locked: shown, not changeable (PUT refuses them).
        "locked": sorted(org_locks(g.org.id)),
    }


@bp.get("/org")
@admin_required
def get_org_policy():
    return jsonify(_org_view())


@bp.put("/org")
@admin_required
def put_org_policy():
    change_org_settings(g.org, g.user, _changes(_body()))
    return jsonify(_org_view())


@bp.post("/org/preview")
@admin_required
def preview_org():
    return jsonify(preview_org_policy(g.org.id, _changes(_body())))


@bp.get("/me")
@api_login_required
def get_my_policy():
    return jsonify(_my_view())


@bp.put("/me")
@api_login_required
def put_my_policy():
    update_user_policy(g.user, _changes(_body()))
    return jsonify(_my_view())


@bp.post("/me/preview")
@api_login_required
def preview_mine():
    return jsonify(preview_user_policy(g.user, _changes(_body())))


@bp.delete("/me/blocklist")
@api_login_required
def unblock():
    entry = _body().get("entry")
    if not isinstance(entry, str):
        raise ApiError(400, "invalid_json", "entry must be an address or a domain")
    return jsonify({"removed": remove_from_blocklist(g.user, entry)})
