"""The pane's status line: who is signed in, whether the CRM answers, and background sync
health (from the sync's own health record; "unknown" until the sync has reported)."""

from __future__ import annotations

import importlib
import logging
import time
from typing import Any

from ..models.tenancy import User

log = logging.getLogger(__name__)

CRM_LABELS = {"builtin": "Built-in CRM", "salesforce": "Salesforce"}
SYNC_LABELS = {
    "up_to_date": "Sync up to date",
    "initializing": "First sync running",
    "not_started": "Sync not started",
    "delayed": "Sync delayed",
    "stalled": "Sync stalled",
    "needs_reauth": "Sign in again to sync",
    "disabled": "Sync off",
    "app_grant_missing": "Sync paused: application grant missing",
    "not_in_app_scope": "Mailbox not in the application's scope",
    "removed_from_scope": "Sync off: removed from scope",
}


HEALTH_TTL_SECONDS = 15.0
_health_cache: dict[int, tuple[float, dict[str, Any]]] = {}


def _sync_health(user: User) -> dict[str, Any]:
    """Cached per process for a few seconds: the pane asks on every selection, while sync
    health changes at most once per session."""
    now = time.monotonic()
    cached = _health_cache.get(user.id)
    if cached is not None and now - cached[0] < HEALTH_TTL_SECONDS:
        return cached[1]
    health = _read_sync_health(user)
    if len(_health_cache) > 10_000:
        _health_cache.clear()
    _health_cache[user.id] = (now, health)
    return health


def _read_sync_health(user: User) -> dict[str, Any]:
    if not user.sync_enabled:
        return {"state": "disabled", "label": SYNC_LABELS["disabled"]}
    try:
        module = importlib.import_module("server.sync.health")
    except ImportError:
        return {"state": "unknown", "label": ""}
    health = module.health_for(user)
    data = health if isinstance(health, dict) else getattr(health, "__dict__", {})
    state = str(data.get("state") or data.get("status") or "unknown")
    out = {k: v for k, v in data.items() if isinstance(v, str | int | float | bool | None)}
    progress = data.get("progress")
    if isinstance(progress, dict):  # the first sync's progress, flat like the rest
        out["progress_read"] = progress.get("read")
        out["progress_estimate"] = progress.get("estimate")
    out["state"] = state
    out["label"] = SYNC_LABELS.get(state, state.replace("_", " ").capitalize())
    return out


def crm_connection(user: User, crm_name: str) -> dict[str, Any]:
    """Whether this user's CRM login works. Only Salesforce is connected per user; the
    built-in CRM needs no login. `connect_required`: the pane shows "Connect" instead."""
    if crm_name != "salesforce":
        return {"connected": True, "needs_reauth": False, "connect_required": False}
    from ..crm.salesforce.connect import connection_status

    state = connection_status(user)
    out: dict[str, Any] = {
        "connected": bool(state["connected"]) and not state["needs_reauth"],
        "needs_reauth": bool(state["needs_reauth"]),
        "connect_required": not state["connected"] or bool(state["needs_reauth"]),
        "can_disconnect": bool(state["connected"]),
    }
    if state.get("username"):
        out["username"] = state["username"]
    return out


def status_line(
    user: User, crm_name: str, crm_connected: bool, connection: dict[str, Any] | None = None
) -> dict[str, Any]:
    crm: dict[str, Any] = {
        "name": crm_name,
        "label": CRM_LABELS.get(crm_name, crm_name),
        "connected": crm_connected,
    }
    if connection is not None:
        crm.update(connection)
        crm["connected"] = crm_connected and connection["connected"]
    return {
        # Every address of the signed-in account: the pane warns when the mailbox is not one.
        "user": {
            "name": user.display_name,
            "email": user.email,
            "addresses": sorted(user.own_addresses),
        },
        "crm": crm,
        "sync": _sync_health(user),
    }
