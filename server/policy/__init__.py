"""Data-control policy, I/O side: settings stored per organisation and per user, merged into
one `rules.policy.Policy` by `effective_policy(user)`; "do not sync"; remembered record
choices; rule previews over the ledger. The decisions themselves are in server/rules."""

from __future__ import annotations

from .choices import forget_choice, remember_choice, remembered_choices
from .preview import preview_org_policy, preview_user_policy
from .store import (
    add_to_blocklist,
    effective_policy,
    org_settings,
    remove_from_blocklist,
    update_org_policy,
    update_user_policy,
    user_settings,
)
from .validation import SettingsError, validate_settings

__all__ = [
    "SettingsError",
    "add_to_blocklist",
    "effective_policy",
    "forget_choice",
    "org_settings",
    "preview_org_policy",
    "preview_user_policy",
    "remember_choice",
    "remembered_choices",
    "remove_from_blocklist",
    "update_org_policy",
    "update_user_policy",
    "user_settings",
    "validate_settings",
]
