"""Screening (PRODUCT §4): every rule and reason, table-driven, including the mixed cases."""

from __future__ import annotations

import dataclasses
from collections.abc import Callable

import pytest

from server.mail.base import Attendee, Event, Message, parse_participant
from server.rules import screening as s
from server.rules.policy import Policy

ME = "me@acme-corp.com"
POLICY = Policy(
    internal_domains={"acme-corp.com"},
    own_addresses={ME, "me.alias@acme-corp.com"},
    ignored_domains={"partner-agency.com"},
    ignored_addresses={"consultant@freelance.net"},
    blocked_addresses={"spy@rival.com"},
    blocked_domains={"blocked.org"},
    excluded_addresses={"lawyer@counsel.com"},
    excluded_domains={"hr-provider.com"},
    subject_keywords=("Payslip", "confidential"),
)


def p(address: str):
    return parse_participant(address)


def msg(*to: str, sender: str = ME, cc: tuple[str, ...] = (), **kw) -> Message:
    kw.setdefault("folder", "inbox")
    return Message(
        id="m1",
        internet_message_id="<m1@x>",
        from_=p(sender),
        to=[p(a) for a in to],
        cc=[p(a) for a in cc],
        **kw,
    )


def event(*attendees: str, organizer: str = ME, **kw) -> Event:
    return Event(
        id="e1",
        ical_uid="uid-1",
        organizer=p(organizer),
        attendees=[Attendee(p(a)) for a in attendees],
        **kw,
    )


# (name, item, policy change, keep, reason, detail)
CASES: list[tuple[str, Callable[[], object], dict, bool, str, str]] = [
    ("plain external email", lambda: msg("jane@customer.com"), {}, True, s.KEEP_EXTERNAL, ""),
    (
        "inbound from customer",
        lambda: msg(ME, sender="jane@customer.com"),
        {},
        True,
        s.KEEP_EXTERNAL,
        "",
    ),
    (
        "sent items folder by display name",
        lambda: msg("jane@customer.com", folder="Sent Items"),
        {},
        True,
        s.KEEP_EXTERNAL,
        "",
    ),
    (
        "junk never read",
        lambda: msg("jane@customer.com", folder="junkemail"),
        {},
        False,
        s.SKIP_FOLDER_NEVER_READ,
        "junkemail",
    ),
    (
        "deleted items by display name",
        lambda: msg("jane@customer.com", folder="Deleted Items"),
        {},
        False,
        s.SKIP_FOLDER_NEVER_READ,
        "deleteditems",
    ),
    (
        "drafts never read",
        lambda: msg("jane@customer.com", folder="Drafts"),
        {},
        False,
        s.SKIP_FOLDER_NEVER_READ,
        "drafts",
    ),
    (
        "conversation history",
        lambda: msg("a@customer.com", folder="Conversation History"),
        {},
        False,
        s.SKIP_FOLDER_NEVER_READ,
        "conversationhistory",
    ),
    (
        "rss / outbox / clutter",
        lambda: msg("a@customer.com", folder="Outbox"),
        {},
        False,
        s.SKIP_FOLDER_NEVER_READ,
        "outbox",
    ),
    (
        "shared folder",
        lambda: msg("a@customer.com", extra={"shared_folder": True}),
        {},
        False,
        s.SKIP_FOLDER_NEVER_READ,
        "shared folder",
    ),
    (
        "folder not selected",
        lambda: msg("a@customer.com", folder="Archive"),
        {},
        False,
        s.SKIP_FOLDER_NOT_SYNCED,
        "archive",
    ),
    (
        "folder selected by final name",
        lambda: msg("a@customer.com", folder="Inbox/Projects"),
        {"folders": ("inbox", "projects")},
        True,
        s.KEEP_EXTERNAL,
        "",
    ),
    ("draft flag", lambda: msg("a@customer.com", is_draft=True), {}, False, s.SKIP_DRAFT, ""),
    (
        "subject keyword, any case",
        lambda: msg("a@customer.com", subject="Your PAYSLIP for May"),
        {},
        False,
        s.SKIP_SUBJECT_KEYWORD,
        "payslip",
    ),
    (
        "auto-submitted",
        lambda: msg(ME, sender="a@customer.com", headers={"auto-submitted": "auto-generated"}),
        {},
        False,
        s.SKIP_AUTOMATED_HEADER,
        "auto-submitted",
    ),
    (
        "auto-submitted: no is human",
        lambda: msg(ME, sender="a@customer.com", headers={"auto-submitted": "No"}),
        {},
        True,
        s.KEEP_EXTERNAL,
        "",
    ),
    (
        "precedence bulk",
        lambda: msg(ME, sender="a@customer.com", headers={"precedence": "bulk"}),
        {},
        False,
        s.SKIP_AUTOMATED_HEADER,
        "precedence",
    ),
    (
        "precedence junk",
        lambda: msg(ME, sender="a@customer.com", headers={"precedence": "Junk"}),
        {},
        False,
        s.SKIP_AUTOMATED_HEADER,
        "precedence",
    ),
    (
        "precedence first-class is human",
        lambda: msg(ME, sender="a@customer.com", headers={"precedence": "first-class"}),
        {},
        True,
        s.KEEP_EXTERNAL,
        "",
    ),
    (
        "list-id",
        lambda: msg(ME, sender="a@customer.com", headers={"list-id": "<x.lists>"}),
        {},
        False,
        s.SKIP_AUTOMATED_HEADER,
        "list-id",
    ),
    (
        "newsletter from a CRM contact (list-unsubscribe)",
        lambda: msg(ME, sender="jane@customer.com", headers={"list-unsubscribe": "<mailto:u@x>"}),
        {},
        False,
        s.SKIP_AUTOMATED_HEADER,
        "list-unsubscribe",
    ),
    (
        "empty return-path",
        lambda: msg(ME, sender="a@customer.com", headers={"return-path": "<>"}),
        {},
        False,
        s.SKIP_AUTOMATED_HEADER,
        "return-path",
    ),
    (
        "normal return-path",
        lambda: msg(ME, sender="a@customer.com", headers={"return-path": "<a@customer.com>"}),
        {},
        True,
        s.KEEP_EXTERNAL,
        "",
    ),
    (
        "automated rule off keeps list mail",
        lambda: msg(ME, sender="a@customer.com", headers={"list-id": "x"}),
        {"rule_automated": False},
        True,
        s.KEEP_EXTERNAL,
        "",
    ),
    (
        "no-reply sender",
        lambda: msg(ME, sender="no-reply@vendor.com"),
        {},
        False,
        s.SKIP_AUTOMATED_SENDER,
        "no-reply@vendor.com",
    ),
    (
        "mailer-daemon sender",
        lambda: msg(ME, sender="MAILER-DAEMON@vendor.com"),
        {},
        False,
        s.SKIP_AUTOMATED_SENDER,
        "mailer-daemon@vendor.com",
    ),
    (
        "bounces+tag sender",
        lambda: msg(ME, sender="bounces+123@mail.vendor.com"),
        {},
        False,
        s.SKIP_AUTOMATED_SENDER,
        "bounces+123@mail.vendor.com",
    ),
    (
        "list -request sender",
        lambda: msg(ME, sender="dev-request@lists.org"),
        {},
        False,
        s.SKIP_AUTOMATED_SENDER,
        "dev-request@lists.org",
    ),
    (
        "notifications sender",
        lambda: msg(ME, sender="notifications@github.com"),
        {},
        False,
        s.SKIP_AUTOMATED_SENDER,
        "notifications@github.com",
    ),
    (
        "exclusion drops the whole email",
        lambda: msg("jane@customer.com", "lawyer@counsel.com"),
        {},
        False,
        s.SKIP_EXCLUDED,
        "lawyer@counsel.com",
    ),
    (
        "excluded domain incl. subdomain",
        lambda: msg("jane@customer.com", cc=("x@eu.hr-provider.com",)),
        {},
        False,
        s.SKIP_EXCLUDED,
        "x@eu.hr-provider.com",
    ),
    ("internal only", lambda: msg("colleague@acme-corp.com"), {}, False, s.SKIP_INTERNAL_ONLY, ""),
    (
        "internal subdomain (registrable)",
        lambda: msg("it@mail.acme-corp.com"),
        {},
        False,
        s.SKIP_INTERNAL_ONLY,
        "",
    ),
    (
        "internal only with ignored external domain",
        lambda: msg("colleague@acme-corp.com", "pr@partner-agency.com"),
        {},
        False,
        s.SKIP_INTERNAL_ONLY,
        "",
    ),
    (
        "ignored address counts as internal",
        lambda: msg("consultant@freelance.net"),
        {},
        False,
        s.SKIP_INTERNAL_ONLY,
        "",
    ),
    (
        "internal-only rule off",
        lambda: msg("colleague@acme-corp.com"),
        {"rule_internal_only": False},
        True,
        s.KEEP_INTERNAL_ALLOWED,
        "",
    ),
    (
        "personal only",
        lambda: msg("friend@gmail.com", "cousin@icloud.com"),
        {},
        False,
        s.SKIP_PERSONAL_ONLY,
        "",
    ),
    (
        "personal rule off",
        lambda: msg("friend@gmail.com"),
        {"rule_personal_only": False},
        True,
        s.KEEP_EXTERNAL,
        "",
    ),
    (
        "personal with a business person",
        lambda: msg("friend@gmail.com", "jane@customer.com"),
        {},
        True,
        s.KEEP_EXTERNAL,
        "",
    ),
    (
        "role address only",
        lambda: msg("billing@vendor.com"),
        {},
        False,
        s.SKIP_ROLE_OR_TOOL_ONLY,
        "",
    ),
    (
        "role address with plus tag",
        lambda: msg("support+case1@vendor.com"),
        {},
        False,
        s.SKIP_ROLE_OR_TOOL_ONLY,
        "",
    ),
    (
        "role rule off",
        lambda: msg("billing@vendor.com"),
        {"rule_role_addresses": False},
        True,
        s.KEEP_EXTERNAL,
        "",
    ),
    (
        "meeting recorder only",
        lambda: msg("fred@fireflies.ai"),
        {},
        False,
        s.SKIP_ROLE_OR_TOOL_ONLY,
        "",
    ),
    (
        "room by prefix",
        lambda: msg("room-berlin@vendor.com"),
        {},
        False,
        s.SKIP_ROLE_OR_TOOL_ONLY,
        "",
    ),
    (
        "tools rule off",
        lambda: msg("fred@fireflies.ai"),
        {"rule_tools": False},
        True,
        s.KEEP_EXTERNAL,
        "",
    ),
    ("only blocked external", lambda: msg("spy@rival.com"), {}, False, s.SKIP_ONLY_BLOCKED, ""),
    (
        "blocked domain subdomain",
        lambda: msg("x@eu.blocked.org"),
        {},
        False,
        s.SKIP_ONLY_BLOCKED,
        "",
    ),
    (
        "one blocked sender among several external recipients",
        lambda: msg(ME, "jane@customer.com", "bob@other.com", sender="spy@rival.com"),
        {},
        True,
        s.KEEP_EXTERNAL,
        "",
    ),
    (
        "no valid participant",
        lambda: msg("not an address", sender="also bad"),
        {},
        False,
        s.SKIP_NO_PARTICIPANTS,
        "",
    ),
]

EVENT_CASES = [
    ("external meeting", lambda: event("jane@customer.com"), {}, True, s.KEEP_EXTERNAL, ""),
    (
        "meetings off",
        lambda: event("jane@customer.com"),
        {"meetings_enabled": False},
        False,
        s.SKIP_MEETINGS_OFF,
        "",
    ),
    (
        "private meeting",
        lambda: event("jane@customer.com", sensitivity="private"),
        {},
        False,
        s.SKIP_PRIVATE_EVENT,
        "private",
    ),
    (
        "confidential meeting",
        lambda: event("jane@customer.com", sensitivity="Confidential"),
        {},
        False,
        s.SKIP_PRIVATE_EVENT,
        "confidential",
    ),
    (
        "personal sensitivity saved by default",
        lambda: event("j@customer.com", sensitivity="personal"),
        {},
        True,
        s.KEEP_EXTERNAL,
        "",
    ),
    (
        "personal sensitivity when the admin adds it",
        lambda: event("j@customer.com", sensitivity="personal"),
        {"private_sensitivities": {"personal"}},
        False,
        s.SKIP_PRIVATE_EVENT,
        "personal",
    ),
    (
        "private cannot be switched off",
        lambda: event("j@customer.com", sensitivity="private"),
        {"private_sensitivities": set()},
        False,
        s.SKIP_PRIVATE_EVENT,
        "private",
    ),
    (
        "only external invitees blocked",
        lambda: event("colleague@acme-corp.com", "spy@rival.com", "x@blocked.org"),
        {},
        False,
        s.SKIP_ONLY_BLOCKED,
        "",
    ),
    (
        "blocked and unblocked invitees",
        lambda: event("spy@rival.com", "jane@customer.com"),
        {},
        True,
        s.KEEP_EXTERNAL,
        "",
    ),
    ("appointment without attendees", lambda: event(), {}, False, s.SKIP_APPOINTMENT, ""),
    (
        "appointments on",
        lambda: event(),
        {"appointments_enabled": True},
        True,
        s.KEEP_APPOINTMENT,
        "",
    ),
    (
        "appointment organised by an excluded address",
        lambda: event(organizer="lawyer@counsel.com"),
        {"appointments_enabled": True},
        False,
        s.SKIP_EXCLUDED,
        "lawyer@counsel.com",
    ),
    (
        "internal meeting",
        lambda: event("colleague@acme-corp.com"),
        {},
        False,
        s.SKIP_INTERNAL_ONLY,
        "",
    ),
    (
        "external organizer, me invited",
        lambda: event(ME, organizer="jane@customer.com"),
        {},
        True,
        s.KEEP_EXTERNAL,
        "",
    ),
    (
        "excluded attendee",
        lambda: event("jane@customer.com", "lawyer@counsel.com"),
        {},
        False,
        s.SKIP_EXCLUDED,
        "lawyer@counsel.com",
    ),
    (
        "subject keyword on a meeting",
        lambda: event("j@customer.com", subject="Confidential: HR"),
        {},
        False,
        s.SKIP_SUBJECT_KEYWORD,
        "confidential",
    ),
    (
        "cancelled meetings still go through (to update the CRM)",
        lambda: event("jane@customer.com", cancelled=True),
        {},
        True,
        s.KEEP_EXTERNAL,
        "",
    ),
]


@pytest.mark.parametrize(
    ("name", "make", "change", "keep", "reason", "detail"),
    CASES + EVENT_CASES,
    ids=[c[0] for c in CASES + EVENT_CASES],
)
def test_rule(name, make, change, keep, reason, detail):
    policy = dataclasses.replace(POLICY, **change) if change else POLICY
    decision = s.screen(make(), policy)
    assert (decision.keep, decision.reason) == (keep, reason)
    assert decision.detail == detail
    if not keep:
        assert decision.linkable == ()


def test_every_reason_is_covered_by_the_table():
    covered = {c[4] for c in CASES + EVENT_CASES}
    assert covered == set(s.SKIP_REASONS) | set(s.KEEP_REASONS)


def test_blocked_sender_is_kept_for_the_others_but_never_linked():
    decision = s.screen(
        msg(ME, "jane@customer.com", "bob@other.com", sender="spy@rival.com"), POLICY
    )
    assert decision.keep
    assert decision.linkable_addresses == ["jane@customer.com", "bob@other.com"]
    assert decision.participants["spy@rival.com"] == "blocked"
    assert decision.participants[ME] == "internal"


def test_every_participant_gets_a_class():
    decision = s.screen(
        msg(
            "jane@customer.com",
            "billing@vendor.com",
            "fred@fireflies.ai",
            "friend@gmail.com",
            "colleague@acme-corp.com",
            "pr@partner-agency.com",
            "x@blocked.org",
            "bad address",
        ),
        POLICY,
    )
    assert decision.participants == {
        ME: "internal",
        "jane@customer.com": "external",
        "billing@vendor.com": "role",
        "fred@fireflies.ai": "tool",
        "friend@gmail.com": "personal",
        "colleague@acme-corp.com": "internal",
        "pr@partner-agency.com": "ignored",
        "x@blocked.org": "blocked",
        "bad address": "invalid",
    }
    # Personal addresses are linked when the email is relevant anyway (a customer on gmail).
    assert decision.linkable_addresses == ["jane@customer.com", "friend@gmail.com"]


def test_resource_attendees_are_tools():
    item = Event(
        id="e",
        ical_uid="u",
        organizer=p(ME),
        attendees=[Attendee(p("boardroom@venue.com"), type="resource")],
    )
    decision = s.screen(item, POLICY)
    assert decision.participants["boardroom@venue.com"] == "tool"
    assert decision.reason == s.SKIP_ROLE_OR_TOOL_ONLY


def test_own_alias_is_internal_even_on_a_personal_domain():
    policy = dataclasses.replace(POLICY, own_addresses={ME, "me.private@gmail.com"})
    decision = s.screen(msg("me.private@gmail.com"), policy)
    assert decision.participants["me.private@gmail.com"] == "internal"
    assert decision.reason == s.SKIP_INTERNAL_ONLY


def test_registrable_domain_of_a_multi_part_suffix():
    policy = Policy(internal_domains={"mail.example.co.uk"})
    assert policy.internal_domains == frozenset({"example.co.uk"})
    assert policy.classify("a@example.co.uk") == "internal"
    assert policy.classify("a@eu.mail.example.co.uk") == "internal"
    assert policy.classify("a@other.co.uk") == "external"


def test_domain_under_no_public_suffix_is_matched_with_its_subdomains():
    policy = Policy(internal_domains={"courier-demo.test"})
    assert policy.classify("a@courier-demo.test") == "internal"
    assert policy.classify("a@mail.courier-demo.test") == "internal"
    assert policy.classify("a@other.test") == "external"


def test_blocking_a_subdomain_does_not_block_the_parent():
    policy = Policy(blocked_domains={"eu.vendor.com"})
    assert policy.classify("a@eu.vendor.com") == "blocked"
    assert policy.classify("a@vendor.com") == "external"


def test_classify_accepts_raw_addresses():
    assert POLICY.classify("  Jane@Customer.COM ") == "external"
    assert POLICY.classify("Spy@Rival.com") == "blocked"
    assert POLICY.classify("no at sign") == "invalid"
    assert POLICY.classify("jane@customer.com", valid=False) == "invalid"


@pytest.mark.parametrize(
    ("domain", "registrable"),
    [
        ("mail.example.co.uk", "example.co.uk"),
        ("EXAMPLE.com.", "example.com"),
        ("a.b.c.example.com", "example.com"),
        ("corp.local", "corp.local"),
        ("localhost", "localhost"),
        ("10.0.0.1", "10.0.0.1"),
        ("", ""),
        ("..", ""),
    ],
)
def test_registrable_domain(domain, registrable):
    from server.rules.domains import registrable_domain

    assert registrable_domain(domain) == registrable
