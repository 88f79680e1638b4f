"""Properties of the rules: deterministic, never raising on what a mailbox contains, and
monotone in the blocklists and the exclusion list. Plus: the rules import no I/O library."""

from __future__ import annotations

import ast
import dataclasses
from pathlib import Path

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from server.mail.base import Attendee, Event, Message, parse_participant
from server.rules.domains import registrable_domain
from server.rules.explain import explain
from server.rules.policy import CLASSES, Policy
from server.rules.screening import screen

LOCALS = ["jane", "bob", "billing", "noreply", "support+x", "room-1", "me", "fred", "a.b"]
DOMAINS = [
    "acme-corp.com",
    "mail.acme-corp.com",
    "customer.com",
    "eu.customer.com",
    "gmail.com",
    "rival.com",
    "fireflies.ai",
    "partner.co.uk",
    "x.y.partner.co.uk",
]
FOLDERS = ["inbox", "sentitems", "Sent Items", "Junk Email", "Archive", "", "Inbox/Deals"]
HEADER_NAMES = [
    "auto-submitted",
    "precedence",
    "list-id",
    "list-unsubscribe",
    "return-path",
    "x-mailing-list",
    "x-other",
]

BASE = Policy(
    internal_domains={"acme-corp.com"},
    own_addresses={"me@acme-corp.com"},
    ignored_domains={"partner.co.uk"},
    subject_keywords=("payslip",),
)

pool_address = st.builds(
    lambda lp, d: f"{lp}@{d}", st.sampled_from(LOCALS), st.sampled_from(DOMAINS)
)
raw_address = st.one_of(
    pool_address,
    st.text(max_size=80),
    st.binary(max_size=80),  # invalid UTF-8 included
    st.text(alphabet=st.characters(max_codepoint=0x1F), max_size=20),  # control characters
    st.none(),
)
participant = st.builds(
    parse_participant, raw_address, st.one_of(st.text(max_size=30), st.binary(max_size=30))
)
header_value = st.one_of(
    st.text(max_size=60),
    st.binary(max_size=60),
    st.none(),
    st.sampled_from(["no", "auto-generated", "bulk", "list", "<>", ""]),
)
headers = st.dictionaries(
    st.sampled_from(HEADER_NAMES) | st.text(max_size=20), header_value, max_size=6
)

messages = st.builds(
    Message,
    id=st.just("m"),
    internet_message_id=st.text(max_size=40),
    folder=st.sampled_from(FOLDERS) | st.text(max_size=30),
    subject=st.text(max_size=80) | st.just("Your payslip"),
    from_=st.none() | participant,
    sender=st.none() | participant,
    to=st.lists(participant, max_size=6),
    cc=st.lists(participant, max_size=4),
    bcc=st.lists(participant, max_size=2),
    headers=headers,
    is_draft=st.booleans(),
)
events = st.builds(
    Event,
    id=st.just("e"),
    ical_uid=st.text(max_size=40),
    subject=st.text(max_size=60),
    organizer=st.none() | participant,
    attendees=st.lists(
        st.builds(
            Attendee,
            participant,
            st.sampled_from(["required", "optional", "resource", "?"]),
            st.text(max_size=10),
        ),
        max_size=6,
    ),
    sensitivity=st.sampled_from(["normal", "private", "personal", "confidential", "", "X"]),
    cancelled=st.booleans(),
)
items = st.one_of(messages, events)
policies = st.builds(
    lambda **kw: dataclasses.replace(BASE, **kw),
    rule_internal_only=st.booleans(),
    rule_personal_only=st.booleans(),
    rule_role_addresses=st.booleans(),
    rule_tools=st.booleans(),
    rule_automated=st.booleans(),
    appointments_enabled=st.booleans(),
)
entries = st.one_of(
    st.builds(lambda a: ("addresses", a), pool_address),
    st.builds(lambda d: ("domains", d), st.sampled_from(DOMAINS)),
)
FAST = settings(
    max_examples=300,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
)


def with_entry(policy: Policy, kind: str, entry: tuple[str, str]) -> Policy:
    which, value = entry
    name = f"{kind}_{which}"
    return dataclasses.replace(policy, **{name: getattr(policy, name) | {value}})


@FAST
@given(items, policies)
def test_screening_is_deterministic(item, policy):
    first = screen(item, policy)
    assert screen(item, policy) == first
    # A fresh policy (empty classification cache) decides the same.
    assert screen(item, dataclasses.replace(policy)) == first


@FAST
@given(items, policies, entries, st.sampled_from(["blocked", "excluded"]))
def test_adding_an_entry_never_keeps_more(item, policy, entry, kind):
    before = screen(item, policy).keep
    after = screen(item, with_entry(policy, kind, entry)).keep
    assert not (after and not before)


@FAST
@given(items, policies, entries, st.sampled_from(["blocked", "excluded"]))
def test_removing_an_entry_never_keeps_fewer(item, policy, entry, kind):
    listed = with_entry(policy, kind, entry)
    which, value = entry
    name = f"{kind}_{which}"
    removed = dataclasses.replace(listed, **{name: getattr(listed, name) - {value}})
    assert screen(item, removed).keep >= screen(item, listed).keep


@FAST
@given(items, policies)
def test_kept_items_link_only_unblocked_outside_people(item, policy):
    decision = screen(item, policy)
    assert set(decision.participants.values()) <= {
        "external",
        "internal",
        "ignored",
        "role",
        "tool",
        "personal",
        "blocked",
        "excluded",
        "invalid",
    }
    for person in decision.linkable:
        assert decision.participants[person.address] in ("external", "personal")
    if not decision.keep:
        assert decision.linkable == ()
    sentences = explain(decision)
    assert sentences and all(isinstance(x, str) and x for x in sentences)


@FAST
@given(st.text(max_size=300), policies)
def test_classify_and_domains_never_raise(text, policy):
    assert policy.classify(text) in CLASSES
    assert isinstance(registrable_domain(text), str)
    assert policy.is_internal_domain(text.rpartition("@")[2]) in (True, False)


def test_huge_values_and_thousands_of_recipients():
    big = "x" * 1_000_000
    recipients = [parse_participant(f"person{i}@customer{i % 50}.com") for i in range(5000)]
    message = Message(
        id="m",
        internet_message_id=big,
        folder=big,
        subject=big,
        from_=parse_participant(big + "@" + big),
        sender=parse_participant(big.encode()),
        to=recipients,
        cc=[parse_participant(b"\xff\xfe@\xc3\x28.com")],
        headers={"auto-submitted": big, "precedence": big, "x-big": big.encode()},
    )
    decision = screen(message, BASE)
    assert decision.keep is False  # a 1 MB folder name is not a synced folder
    message.folder = "inbox"
    message.headers = {"x-big": big, "return-path": "<a@b.com>\x00\r\n"}
    message.subject = "\x00\x1b[31m" + big
    decision = screen(message, BASE)
    assert decision.keep is True
    assert len(decision.linkable) == 5000


def test_the_rules_import_no_io_library():
    forbidden = {"flask", "sqlalchemy", "redis", "requests", "rq", "psycopg", "msal"}
    rules_dir = Path(__file__).resolve().parents[2] / "server" / "rules"
    found = []
    for path in sorted(rules_dir.rglob("*.py")):
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.Import):
                names = [a.name for a in node.names]
            elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
                names = [node.module]
            else:
                continue
            found += [f"{path.name}: {n}" for n in names if n.split(".")[0] in forbidden]
    assert found == []


def test_the_rules_pull_in_no_database_or_queue_library_transitively():
    # Flask is loaded by the parent package's __init__ (create_app), and requests by
    # tldextract (whose suffix-list download we switch off); neither is used by the rules.
    import subprocess
    import sys

    code = (
        "import sys\n"
        "import server.rules.screening, server.rules.matching, server.rules.linking\n"
        "import server.rules.explain, server.rules.keys, server.rules.defaults\n"
        "bad = {'sqlalchemy', 'redis', 'rq', 'psycopg'} & set(sys.modules)\n"
        "print(sorted(bad))\n"
    )
    out = subprocess.run(
        [sys.executable, "-c", code],
        capture_output=True,
        text=True,
        cwd=Path(__file__).resolve().parents[2],
        check=True,
    )
    assert out.stdout.strip() == "[]"


@FAST
@given(items, policies, entries)
def test_an_excluded_participant_always_drops_the_item(item, policy, entry):
    # Appointments (no invitees) included: the exclusion list drops every kind of item.
    decision = screen(item, with_entry(policy, "excluded", entry))
    if "excluded" in decision.participants.values():
        assert not decision.keep
        assert decision.reason == "excluded_participant"
