"""The data-controls form (pure parts plus the stored values): every organisation setting of
PRODUCT §4 and §7, how it is shown, how a form turns into validated changes, and the diff
an admin confirms before saving."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from ..policy import org_settings
from ..policy.merge import build_policy, policy_settings
from ..policy.store import deployment_defaults, org_locks
from ..policy.validation import SETTINGS, SettingsError, validate_settings

# (section, [(setting, label, help)]) in the order the form shows them.
SECTIONS: tuple[tuple[str, tuple[tuple[str, str, str], ...]], ...] = (
    (
        "Who is internal",
        (
            (
                "internal_domains",
                "Internal domains",
                "Besides your verified domains. One domain a line.",
            ),
            ("ignored_addresses", "Ignored addresses", "Count as internal. One address a line."),
            ("ignored_domains", "Ignored domains", "Count as internal. One domain a line."),
        ),
    ),
    (
        "Blocklists and exclusions",
        (
            (
                "blocked_addresses",
                "Blocked addresses",
                "Never linked; the email is still saved to the other people. "
                "Users' own lists add up.",
            ),
            ("blocked_domains", "Blocked domains", "As above, for whole domains."),
            (
                "excluded_addresses",
                "Excluded addresses",
                "Drop the whole email if any participant is one of these.",
            ),
            ("excluded_domains", "Excluded domains", "As above, for whole domains."),
            (
                "subject_keywords",
                "Subject keywords",
                "An email whose subject contains one of these is not synced (e.g. payslip).",
            ),
        ),
    ),
    (
        "Screening rules",
        (
            (
                "rule_automated",
                "Skip automated mail",
                "Auto-Submitted, bulk/list mail, no-reply senders and similar.",
            ),
            (
                "automated_local_parts",
                "Automated sender names",
                "Parts before @ that mark automated mail. One a line.",
            ),
            ("rule_role_addresses", "Role addresses are not people", "support@, sales@, info@ …"),
            ("role_local_parts", "Role address names", "Parts before @. One a line."),
            ("rule_tools", "Tools are not people", "Conference rooms, recorders, notifications."),
            ("tool_patterns", "Tool patterns", 'Like "*@resource.example.com". One a line.'),
            (
                "rule_internal_only",
                "Skip internal-only mail",
                "No participant outside the organisation.",
            ),
            (
                "rule_personal_only",
                "Personal addresses alone are not enough",
                "gmail.com, outlook.com … do not make an email relevant on their own.",
            ),
            ("personal_domains", "Personal domains", "One domain a line."),
            (
                "private_sensitivities",
                "Calendar sensitivities never saved",
                'One a line; "private" always stays.',
            ),
        ),
    ),
    (
        "Saving",
        (
            (
                "auto_save",
                "Auto-save",
                "off: nothing; threads: marked threads; all: every relevant "
                "email with a matched CRM person.",
            ),
            ("link_to_opportunities", "Link to opportunities", "By the opportunity rule."),
            (
                "auto_create",
                "Auto-create people",
                "A new lead or contact once the user has written to the address.",
            ),
            ("match_by_domain", "Match accounts by domain", ""),
            ("only_my_records", "Only the user's own records", ""),
            ("meetings_enabled", "Sync meetings", "Calendar events with external participants."),
            ("appointments_enabled", "Sync appointments without attendees", ""),
        ),
    ),
    (
        "Sync",
        (
            ("history_days", "History window (days)", "How far back the first sync reads."),
            ("sync_interval_minutes", "Sync interval (minutes)", "Safety poll between sessions."),
            (
                "folders",
                "Folders",
                "Final folder names (case-insensitive); empty: Inbox and Sent Items. One a line.",
            ),
        ),
    ),
)
LABELS = {name: label for _, fields in SECTIONS for name, label, _ in fields}
assert set(LABELS) == set(SETTINGS), "every setting is on the form"


@dataclass
class Field:
    name: str
    label: str
    help: str
    kind: str
    value: Any
    stored: bool
    lockable: bool
    locked: bool
    error: str = ""
    choices: tuple[str, ...] = ()
    low: int = 0
    high: int = 0

    @property
    def text(self) -> str:
        """Lists as one entry a line; other values as they are."""
        if isinstance(self.value, list):
            return "\n".join(self.value)
        return "" if self.value is None else str(self.value)


def effective_org(org_id: int) -> dict[str, Any]:
    values = policy_settings(
        build_policy(org_settings(org_id), org_domains=(), defaults=deployment_defaults())
    )
    return values


def defaults() -> dict[str, Any]:
    return policy_settings(build_policy({}, defaults=deployment_defaults()))


def form_fields(
    org_id: int,
    values: Mapping[str, Any] | None = None,
    errors: Mapping[str, str] | None = None,
    locks: set[str] | None = None,
) -> list[tuple[str, list[Field]]]:
    """The form's sections with each field's value (submitted, else effective)."""
    stored = org_settings(org_id)
    current = effective_org(org_id)
    locked = org_locks(org_id) if locks is None else locks
    out = []
    for section, entries in SECTIONS:
        fields = []
        for name, label, help_text in entries:
            spec = SETTINGS[name]
            fields.append(
                Field(
                    name=name,
                    label=label,
                    help=help_text,
                    kind=spec.kind,
                    value=(values or {}).get(name, current[name]),
                    stored=name in stored,
                    lockable=spec.level == "user",
                    locked=name in locked,
                    error=(errors or {}).get(name, ""),
                    choices=spec.choices,
                    low=spec.low,
                    high=spec.high,
                )
            )
        out.append((section, fields))
    return out


def parse_form(form: Mapping[str, Any]) -> tuple[dict[str, Any], dict[str, str]]:
    """Raw form values → typed values per setting, and messages for what cannot be read."""
    values: dict[str, Any] = {}
    errors: dict[str, str] = {}
    for name, spec in SETTINGS.items():
        raw = form.get(name)
        if spec.kind == "bool":
            values[name] = raw == "on"
        elif spec.kind == "list":
            values[name] = [line.strip() for line in str(raw or "").splitlines() if line.strip()]
        elif spec.kind == "int":
            try:
                values[name] = int(str(raw).strip())
            except ValueError:
                values[name] = str(raw or "")
                errors[name] = f"{LABELS[name]}: give a whole number"
        else:
            values[name] = str(raw or "")
    return values, errors


def changes_from(org_id: int, values: Mapping[str, Any]) -> tuple[dict[str, Any], dict[str, str]]:
    """What differs from the organisation's current settings, validated. A value equal to
    the default resets a stored setting (None) instead of pinning the default."""
    current = effective_org(org_id)
    base = defaults()
    stored = org_settings(org_id)
    proposed: dict[str, Any] = {}
    for name, value in values.items():
        if _same(value, current[name]):
            continue
        proposed[name] = value
    try:
        checked = validate_settings(proposed, "org")
    except SettingsError as exc:
        return {}, {name: _label_message(name, msg) for name, msg in exc.errors.items()}
    out = {}
    for name, value in checked.items():
        if _same(value, current[name]):
            continue  # only normalisation differed
        out[name] = None if (_same(value, base[name]) and name in stored) else value
    return out, {}


def _same(a: Any, b: Any) -> bool:
    if isinstance(a, list) and isinstance(b, list):
        return sorted(a) == sorted(b)
    return a == b


def _label_message(name: str, message: str) -> str:
    return message.replace(f"{name}:", f"{LABELS.get(name, name)}:", 1)


def diff_rows(org_id: int, changes: Mapping[str, Any]) -> list[dict[str, Any]]:
    """For the confirmation: each changed setting, before and after (lists as added and
    removed entries)."""
    current = effective_org(org_id)
    base = defaults()
    rows = []
    for name, value in changes.items():
        after = base[name] if value is None else value
        before = current[name]
        row = {
            "name": name,
            "label": LABELS[name],
            "before": before,
            "after": after,
            "reset": value is None,
        }
        if isinstance(before, list):
            row["added"] = [v for v in after if v not in before]
            row["removed"] = [v for v in before if v not in after]
        rows.append(row)
    return rows
