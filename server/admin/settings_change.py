"""The one way an organisation's data-control settings are changed — by the console's
form (admin/controls_views.py) and by PUT /api/policy/org (api/policy.py): store the
changes, set the locks when the caller manages them, and audit "settings.changed" with
every changed setting's before and after."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any

from ..models import Organisation, User
from ..policy import org_settings, update_org_policy
from ..policy.store import org_locks, set_org_locks
from .audit import record_org_audit


def audit_side(
    settings: Mapping[str, Any], names: Iterable[str], locked: list[str] | None
) -> dict[str, Any]:
    """One side (before or after) of the audit entry: the named settings, and the locked
    names when the change manages locks (the API does not, so its entries carry none)."""
    side: dict[str, Any] = {"settings": {n: settings.get(n) for n in names}}
    if locked is not None:
        side["locked"] = locked
    return side


def change_org_settings(
    org: Organisation,
    actor: User,
    changes: Mapping[str, Any],
    locks: Iterable[object] | None = None,
) -> dict[str, Any]:
    """Store `changes` (ApiError 400 when invalid) and, unless None, the full set of
    `locks`; audit it; return the stored settings. A form that changes only locks leaves
    the settings row untouched (and its updated_by), as it did before this was shared."""
    before = org_settings(org.id)
    locks_before = None if locks is None else sorted(org_locks(org.id))
    store = bool(changes) or locks is None
    after = update_org_policy(org, changes, actor=actor) if store else before
    locks_after = None
    if locks is not None:
        set_org_locks(org.id, [str(n) for n in locks], actor)
        locks_after = sorted(org_locks(org.id))
    names = sorted(changes)
    record_org_audit(
        org,
        "settings.changed",
        before=audit_side(before, names, locks_before),
        after=audit_side(after, names, locks_after),
    )
    return after
