"""Settings validation: precise messages; merging organisation and user settings."""

from __future__ import annotations

import pytest

from server.policy.merge import build_policy, merged_settings, policy_settings
from server.policy.validation import (
    SETTINGS,
    SettingsError,
    check_block_entry,
    validate_settings,
)
from server.rules.policy import Policy

# (setting, value, exact message)
BAD = [
    (
        "internal_domains",
        ["exa mple.com"],
        'internal_domains: "exa mple.com" contains spaces or control characters',
    ),
    (
        "internal_domains",
        ["localhost"],
        'internal_domains: "localhost" needs at least one dot, e.g. example.com',
    ),
    (
        "blocked_domains",
        ["bob@vendor.com"],
        'blocked_domains: "bob@vendor.com" is an address, not a domain (leave out the part '
        "before @)",
    ),
    (
        "ignored_domains",
        ["https://vendor.com/"],
        'ignored_domains: "https://vendor.com/" looks like a URL; give only the domain, e.g. '
        "example.com",
    ),
    (
        "excluded_domains",
        ["-bad.com"],
        'excluded_domains: "-bad.com" has an invalid part "-bad" (letters, digits and inner '
        "hyphens only, at most 63 characters)",
    ),
    (
        "blocked_domains",
        ["a" * 64 + ".com"],
        f'blocked_domains: "{"a" * 64}.com" has an invalid part "{"a" * 64}" (letters, digits '
        "and inner hyphens only, at most 63 characters)",
    ),
    (
        "subject_keywords",
        ["hr"],
        'subject_keywords: "hr" is too short (at least 3 characters); it would drop almost '
        "every email",
    ),
    (
        "subject_keywords",
        ["pay\x00slip"],
        'subject_keywords: "pay\x00slip" contains control characters',
    ),
    ("subject_keywords", "payslip", "subject_keywords: expected a list of strings"),
    ("subject_keywords", [3], "subject_keywords: 3 is not a string"),
    (
        "role_local_parts",
        ["sales team"],
        'role_local_parts: "sales team" is not the part before @ of an address (letters, digits, '
        ". _ + ' - only)",
    ),
    (
        "tool_patterns",
        ["fireflies.ai"],
        'tool_patterns: "fireflies.ai" must look like "*@domain", "prefix*@*" or a full address',
    ),
    (
        "folders",
        ["Junk Email"],
        'folders: "Junk Email" is never read (junk, drafts, deleted items and similar folders)',
    ),
    (
        "private_sensitivities",
        ["confidential"],
        'private_sensitivities: "private" events are never saved and must stay listed',
    ),
    (
        "private_sensitivities",
        ["private", "secret"],
        'private_sensitivities: "secret" is not one of normal, personal, private, confidential',
    ),
    ("history_days", 181, "history_days: must be between 1 and 180, got 181"),
    ("history_days", "30", "history_days: expected a whole number, got '30'"),
    ("history_days", True, "history_days: expected a whole number, got True"),
    ("auto_save", "sometimes", "auto_save: must be one of off, threads, all, got 'sometimes'"),
    ("meetings_enabled", "yes", "meetings_enabled: expected true or false, got 'yes'"),
    ("nonsense", 1, 'unknown setting "nonsense"'),
]


@pytest.mark.parametrize(
    ("name", "value", "message"), BAD, ids=[f"{b[0]}-{i}" for i, b in enumerate(BAD)]
)
def test_bad_values_get_precise_messages(name, value, message):
    with pytest.raises(SettingsError) as caught:
        validate_settings({name: value}, "org")
    assert caught.value.errors == {name: message}


def test_bad_address_message_names_the_entry():
    with pytest.raises(SettingsError) as caught:
        validate_settings({"blocked_addresses": ["ok@vendor.com", "bob@@vendor.com"]}, "org")
    message = caught.value.errors["blocked_addresses"]
    assert message.startswith('blocked_addresses: "bob@@vendor.com" is not an email address: ')


def test_every_bad_setting_is_reported_at_once():
    with pytest.raises(SettingsError) as caught:
        validate_settings({"history_days": 0, "auto_save": "x", "folders": ["Drafts"]}, "org")
    assert set(caught.value.errors) == {"history_days", "auto_save", "folders"}


def test_values_are_normalised():
    checked = validate_settings(
        {
            "internal_domains": [" Example.CO.UK. ", "@acme.com", "bücher.de"],
            "blocked_addresses": ["Bob@Vendor.COM", "bob@vendor.com"],
            "subject_keywords": ["  Pay   Slip "],
            "folders": ["Inbox", " Projects  2026 "],
            "role_local_parts": ["Sales"],
            "tool_patterns": ["*@Fireflies.AI", "Room-*@*"],
        },
        "org",
    )
    assert checked == {
        "internal_domains": ["example.co.uk", "acme.com", "xn--bcher-kva.de"],
        "blocked_addresses": ["bob@vendor.com"],
        "subject_keywords": ["pay slip"],
        "folders": ["Inbox", "Projects 2026"],
        "role_local_parts": ["sales"],
        "tool_patterns": ["*@fireflies.ai", "room-*@*"],
    }


def test_none_resets_a_setting():
    assert validate_settings({"history_days": None}, "user") == {"history_days": None}


@pytest.mark.parametrize("name", [n for n, s in SETTINGS.items() if s.level == "org"])
def test_users_cannot_change_organisation_settings(name):
    with pytest.raises(SettingsError) as caught:
        validate_settings({name: None}, "user")
    assert caught.value.errors[name] == f"{name}: only an administrator can change this setting"


def test_every_setting_is_a_policy_field():
    fields = set(Policy.__dataclass_fields__)
    assert set(SETTINGS) <= fields


@pytest.mark.parametrize(
    ("entry", "expected"),
    [
        ("Bob@Vendor.com", ("blocked_addresses", "bob@vendor.com")),
        ("vendor.com", ("blocked_domains", "vendor.com")),
        ("@vendor.com", ("blocked_domains", "vendor.com")),
    ],
)
def test_block_entries(entry, expected):
    assert check_block_entry(entry) == expected


@pytest.mark.parametrize("entry", ["", "  ", "bob@", "not a domain", "vendor"])
def test_bad_block_entries(entry):
    with pytest.raises(SettingsError):
        check_block_entry(entry)


def test_lists_add_up_and_user_preferences_override():
    org = {
        "blocked_domains": ["a.com"],
        "subject_keywords": ["payslip"],
        "auto_save": "all",
        "history_days": 60,
        "internal_domains": ["corp.com"],
        "rule_internal_only": False,
    }
    user = {
        "blocked_domains": ["b.com", "a.com"],
        "auto_save": "off",
        "internal_domains": ["ignored.com"],
        "rule_internal_only": True,
    }
    merged = merged_settings(org, user)
    assert merged["blocked_domains"] == ["a.com", "b.com"]
    assert merged["subject_keywords"] == ["payslip"]
    assert merged["auto_save"] == "off"
    assert merged["history_days"] == 60
    # Organisation-only settings ignore whatever a user row might hold.
    assert merged["internal_domains"] == ["corp.com"]
    assert merged["rule_internal_only"] is False


def test_build_policy_adds_directory_domains_and_own_addresses():
    policy = build_policy(
        {"internal_domains": ["subsidiary.com"]},
        {"folders": ["Inbox", "VIP"]},
        org_domains=["mail.acme.co.uk"],
        own_addresses=["Me@Acme.co.uk"],
        defaults={"sync_interval_minutes": 15, "unknown": 1},
    )
    assert policy.internal_domains == frozenset({"acme.co.uk", "subsidiary.com"})
    assert policy.own_addresses == frozenset({"me@acme.co.uk"})
    assert policy.folders == ("inbox", "vip")
    assert policy.sync_interval_minutes == 15
    assert policy_settings(policy)["internal_domains"] == ["acme.co.uk", "subsidiary.com"]


def test_defaults():
    policy = build_policy({})
    assert (policy.history_days, policy.sync_interval_minutes, policy.auto_save) == (
        30,
        10,
        "threads",
    )
    assert policy.folders == ("inbox", "sentitems")
    assert policy.appointments_enabled is False and policy.meetings_enabled is True
    assert policy.subject_keywords == ()
    assert "gmail.com" in policy.personal_domains and "billing" in policy.role_local_parts
