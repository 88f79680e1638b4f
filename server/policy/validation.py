"""Validation of data-control settings (pure): every bad value gets a message that names the
setting and says exactly what is wrong with which entry."""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

from email_validator import EmailNotValidError, validate_email

from ..rules import defaults
from ..rules.policy import folder_key

MAX_LIST_ENTRIES = 5000
MIN_KEYWORD_LENGTH = 3
MAX_KEYWORD_LENGTH = 100
_LABEL = re.compile(r"^[a-z0-9](?:[a-z0-9-]{0,61}[a-z0-9])?$")
_LOCAL_PART = re.compile(r"^[a-z0-9._+'-]{1,64}$")
_CONTROL = re.compile(r"[\x00-\x1f\x7f]")


class SettingsError(ValueError):
    """One or more settings are invalid; `errors` maps each setting to its message."""

    def __init__(self, errors: dict[str, str]):
        self.errors = errors
        super().__init__("; ".join(errors.values()))


def check_domain(value: str) -> str:
    domain = value.strip().lower().lstrip("@").rstrip(".")
    if not domain:
        raise ValueError("is empty")
    if _CONTROL.search(domain) or " " in domain:
        raise ValueError("contains spaces or control characters")
    if "@" in domain:
        raise ValueError("is an address, not a domain (leave out the part before @)")
    if "/" in domain or ":" in domain:
        raise ValueError("looks like a URL; give only the domain, e.g. example.com")
    if not domain.isascii():
        try:
            domain = domain.encode("idna").decode("ascii")
        except UnicodeError:
            raise ValueError("is not a valid international domain name") from None
    if len(domain) > 253:
        raise ValueError("is longer than 253 characters")
    labels = domain.split(".")
    if len(labels) < 2:
        raise ValueError("needs at least one dot, e.g. example.com")
    for label in labels:
        if not _LABEL.match(label):
            raise ValueError(
                f'has an invalid part "{label}" (letters, digits and inner hyphens only, '
                "at most 63 characters)"
            )
    return domain


def check_address(value: str) -> str:
    raw = value.strip()
    if not raw:
        raise ValueError("is empty")
    try:
        checked = validate_email(
            raw, check_deliverability=False, allow_smtputf8=True, test_environment=True
        )
    except EmailNotValidError as exc:
        raise ValueError(f"is not an email address: {exc}") from None
    return checked.normalized.lower()


def check_keyword(value: str) -> str:
    keyword = " ".join(value.split()).casefold()
    if _CONTROL.search(value):
        raise ValueError("contains control characters")
    if len(keyword) < MIN_KEYWORD_LENGTH:
        raise ValueError(
            f"is too short (at least {MIN_KEYWORD_LENGTH} characters); "
            "it would drop almost every email"
        )
    if len(keyword) > MAX_KEYWORD_LENGTH:
        raise ValueError(f"is longer than {MAX_KEYWORD_LENGTH} characters")
    return keyword


def check_local_part(value: str) -> str:
    local = value.strip().lower().rstrip("@")
    if not _LOCAL_PART.match(local):
        raise ValueError("is not the part before @ of an address (letters, digits, . _ + ' - only)")
    return local


def check_tool_pattern(value: str) -> str:
    pattern = value.strip().lower()
    local, at, domain = pattern.rpartition("@")
    if not at or not local or not domain:
        raise ValueError('must look like "*@domain", "prefix*@*" or a full address')
    if "*" not in pattern and "?" not in pattern:
        return check_address(pattern)
    if domain != "*" and "*" not in domain and "?" not in domain:
        check_domain(domain)
    if _CONTROL.search(pattern) or " " in pattern:
        raise ValueError("contains spaces or control characters")
    return pattern


def check_folder(value: str) -> str:
    name = " ".join(value.split())
    if not name or len(name) > 255:
        raise ValueError("must be a folder name of 1 to 255 characters")
    if folder_key(name) in defaults.NEVER_READ_FOLDERS:
        raise ValueError("is never read (junk, drafts, deleted items and similar folders)")
    return name


def check_sensitivity(value: str) -> str:
    sensitivity = value.strip().lower()
    if sensitivity not in defaults.SENSITIVITIES:
        raise ValueError(f"is not one of {', '.join(defaults.SENSITIVITIES)}")
    return sensitivity


@dataclass(frozen=True)
class Setting:
    kind: str  # list | int | bool | choice
    level: str  # org: administrators only | user: users may override or add
    merge: str = "override"  # override | add (organisation and user lists add up)
    check: Callable[[str], str] | None = None
    low: int = 0
    high: int = 0
    choices: tuple[str, ...] = ()


SETTINGS: dict[str, Setting] = {
    "internal_domains": Setting("list", "org", check=check_domain),
    "ignored_addresses": Setting("list", "org", check=check_address),
    "ignored_domains": Setting("list", "org", check=check_domain),
    "blocked_addresses": Setting("list", "user", "add", check_address),
    "blocked_domains": Setting("list", "user", "add", check_domain),
    "excluded_addresses": Setting("list", "user", "add", check_address),
    "excluded_domains": Setting("list", "user", "add", check_domain),
    "subject_keywords": Setting("list", "user", "add", check_keyword),
    "personal_domains": Setting("list", "org", check=check_domain),
    "role_local_parts": Setting("list", "org", check=check_local_part),
    "tool_patterns": Setting("list", "org", check=check_tool_pattern),
    "automated_local_parts": Setting("list", "org", check=check_local_part),
    "private_sensitivities": Setting("list", "org", check=check_sensitivity),
    "folders": Setting("list", "user", check=check_folder),
    "history_days": Setting("int", "user", low=1, high=defaults.MAX_HISTORY_DAYS),
    "sync_interval_minutes": Setting("int", "org", low=1, high=1440),
    "auto_save": Setting("choice", "user", choices=defaults.AUTO_SAVE_MODES),
    "link_to_opportunities": Setting("bool", "user"),
    "auto_create": Setting("bool", "org"),
    "meetings_enabled": Setting("bool", "user"),
    "appointments_enabled": Setting("bool", "user"),
    "match_by_domain": Setting("bool", "org"),
    "only_my_records": Setting("bool", "user"),
    "rule_automated": Setting("bool", "org"),
    "rule_role_addresses": Setting("bool", "org"),
    "rule_tools": Setting("bool", "org"),
    "rule_internal_only": Setting("bool", "org"),
    "rule_personal_only": Setting("bool", "org"),
}


def _check_list(name: str, spec: Setting, value: Any) -> list[str]:
    if isinstance(value, str) or not isinstance(value, list | tuple):
        raise ValueError(f"{name}: expected a list of strings")
    if len(value) > MAX_LIST_ENTRIES:
        raise ValueError(f"{name}: at most {MAX_LIST_ENTRIES} entries")
    out: list[str] = []
    for entry in value:
        if not isinstance(entry, str):
            raise ValueError(f"{name}: {entry!r} is not a string")
        try:
            out.append(spec.check(entry) if spec.check else entry)
        except ValueError as exc:
            raise ValueError(f'{name}: "{entry.strip()[:200]}" {exc}') from None
    if name == "private_sensitivities" and "private" not in out:
        raise ValueError(f'{name}: "private" events are never saved and must stay listed')
    return list(dict.fromkeys(out))


def check_value(name: str, value: Any) -> Any:
    """The normalised value of one setting, or ValueError with a precise message."""
    spec = SETTINGS[name]
    if spec.kind == "list":
        return _check_list(name, spec, value)
    if spec.kind == "bool":
        if not isinstance(value, bool):
            raise ValueError(f"{name}: expected true or false, got {value!r}")
        return value
    if spec.kind == "int":
        if isinstance(value, bool) or not isinstance(value, int):
            raise ValueError(f"{name}: expected a whole number, got {value!r}")
        if not spec.low <= value <= spec.high:
            raise ValueError(f"{name}: must be between {spec.low} and {spec.high}, got {value}")
        return value
    if value not in spec.choices:
        raise ValueError(f"{name}: must be one of {', '.join(spec.choices)}, got {value!r}")
    return value


def validate_settings(changes: Mapping[str, Any], level: str) -> dict[str, Any]:
    """Normalised changes for the organisation ("org") or a user ("user"). A value of None
    resets that setting to its default. Raises SettingsError listing every bad setting."""
    if not isinstance(changes, Mapping):
        raise SettingsError({"settings": "settings: expected an object of setting: value"})
    errors: dict[str, str] = {}
    out: dict[str, Any] = {}
    for name, value in changes.items():
        spec = SETTINGS.get(name)
        if spec is None:
            errors[str(name)] = f'unknown setting "{name}"'
            continue
        if level == "user" and spec.level != "user":
            errors[name] = f"{name}: only an administrator can change this setting"
            continue
        if value is None:
            out[name] = None
            continue
        try:
            out[name] = check_value(name, value)
        except ValueError as exc:
            errors[name] = str(exc)
    if errors:
        raise SettingsError(errors)
    return out


def check_block_entry(entry: str) -> tuple[str, str]:
    """An address or a domain for a blocklist: ("blocked_addresses" | "blocked_domains",
    normalised value)."""
    if not isinstance(entry, str) or not entry.strip():
        raise SettingsError({"entry": "entry: give an email address or a domain"})
    text = entry.strip()
    name = "blocked_addresses" if "@" in text.lstrip("@") else "blocked_domains"
    try:
        value = check_address(text) if name == "blocked_addresses" else check_domain(text)
    except ValueError as exc:
        raise SettingsError({"entry": f'"{text[:200]}" {exc}'}) from None
    return name, value
