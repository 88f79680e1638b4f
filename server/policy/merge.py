"""Organisation settings + the user's own → one Policy (pure).

Lists marked "add" (blocklists, exclusions, subject keywords) add up; every other setting a
user may change overrides the organisation's; the rest are the organisation's alone.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import fields
from typing import Any

from ..rules.policy import Policy
from .validation import SETTINGS

_POLICY_FIELDS = {f.name for f in fields(Policy) if f.init}


def merged_settings(
    org_settings: Mapping[str, Any], user_settings: Mapping[str, Any] | None = None
) -> dict[str, Any]:
    out: dict[str, Any] = {}
    user_settings = user_settings or {}
    for name, spec in SETTINGS.items():
        org_value = org_settings.get(name)
        user_value = user_settings.get(name) if spec.level == "user" else None
        if spec.merge == "add":
            combined = [*(org_value or ()), *(user_value or ())]
            if combined:
                out[name] = list(dict.fromkeys(combined))
        elif user_value is not None:
            out[name] = user_value
        elif org_value is not None:
            out[name] = org_value
    return out


def build_policy(
    org_settings: Mapping[str, Any],
    user_settings: Mapping[str, Any] | None = None,
    *,
    org_domains: Iterable[str] = (),
    own_addresses: Iterable[str] = (),
    colleague_addresses: Iterable[str] = (),
    defaults: Mapping[str, Any] | None = None,
) -> Policy:
    """The effective Policy. `org_domains` are the organisation's verified domains (always
    internal); `defaults` override built-in defaults (e.g. the deployment's sync interval)."""
    values: dict[str, Any] = {k: v for k, v in (defaults or {}).items() if k in _POLICY_FIELDS}
    values.update(merged_settings(org_settings, user_settings))
    values["internal_domains"] = [*org_domains, *values.get("internal_domains", ())]
    values["own_addresses"] = list(own_addresses)
    values["colleague_addresses"] = list(colleague_addresses)
    for name, value in list(values.items()):
        if isinstance(value, list):
            values[name] = (
                tuple(value)
                if name in ("folders", "subject_keywords", "tool_patterns")
                else frozenset(value)
            )
    return Policy(**values)


def policy_settings(policy: Policy) -> dict[str, Any]:
    """A Policy as JSON-ready settings (sorted lists), e.g. for the admin console."""
    out: dict[str, Any] = {}
    for name in SETTINGS:
        value = getattr(policy, name)
        if isinstance(value, frozenset):
            out[name] = sorted(value)
        elif isinstance(value, tuple):
            out[name] = list(value)
        else:
            out[name] = value
    return out
