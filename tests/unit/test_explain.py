"""Decisions in words: the sentences the pane and the admin console show."""

from __future__ import annotations

import pytest

from server.crm.base import Opportunity, Person, RecordRef
from server.mail.base import Attendee, Event, Message, parse_participant
from server.rules import linking, matching, screening
from server.rules.explain import explain, reason_text
from server.rules.policy import Policy

ME = "me@acme-corp.com"
POLICY = Policy(
    internal_domains={"acme-corp.com"},
    own_addresses={ME},
    blocked_addresses={"spy@rival.com"},
    excluded_addresses={"lawyer@counsel.com"},
    subject_keywords=("payslip",),
)


def msg(*to: str, sender: str = ME, **kw) -> Message:
    kw.setdefault("folder", "inbox")
    return Message(
        id="m",
        internet_message_id="<m>",
        from_=parse_participant(sender),
        to=[parse_participant(a) for a in to],
        **kw,
    )


SCREENING = [
    (msg("colleague@acme-corp.com"), ["skipped: all participants are internal"]),
    (msg("friend@gmail.com"), ["skipped: the only outside participants are personal addresses"]),
    (msg("spy@rival.com"), ["skipped: every outside participant is blocked"]),
    (msg("billing@vendor.com"), ["skipped: no outside person, only role or tool addresses"]),
    (
        msg("jane@customer.com", "lawyer@counsel.com"),
        ["skipped: lawyer@counsel.com is on the exclusion list"],
    ),
    (msg("jane@customer.com", subject="Payslip May"), ['skipped: the subject contains "payslip"']),
    (
        msg(ME, sender="jane@customer.com", headers={"list-unsubscribe": "<x>"}),
        ["skipped: automated mail (it has a list-unsubscribe header)"],
    ),
    (msg(ME, sender="noreply@vendor.com"), ["skipped: automated mail from noreply@vendor.com"]),
    (
        msg("jane@customer.com", folder="Junk Email"),
        ["skipped: the folder junkemail is never read"],
    ),
    (
        msg("jane@customer.com", folder="Archive"),
        ["skipped: the folder archive is not among the synced folders"],
    ),
    (msg("jane@customer.com", is_draft=True), ["skipped: drafts are not saved"]),
    (msg("bad", sender="worse"), ["skipped: no valid participant address"]),
    (
        Event(
            id="e",
            ical_uid="u",
            organizer=parse_participant(ME),
            sensitivity="private",
            attendees=[Attendee(parse_participant("jane@customer.com"))],
        ),
        ["skipped: private events are never saved"],
    ),
    (
        Event(id="e", ical_uid="u", organizer=parse_participant(ME)),
        ["skipped: appointments without attendees are not saved"],
    ),
    (
        msg("jane@customer.com", "billing@vendor.com", "spy@rival.com", "fred@fireflies.ai"),
        [
            "relevant: 1 outside participant",
            "not linked: billing@vendor.com is a role address",
            "not linked: spy@rival.com is blocked",
            "not linked: fred@fireflies.ai is a tool (room, recorder or notification sender)",
        ],
    ),
]


@pytest.mark.parametrize(("item", "sentences"), SCREENING)
def test_screening_sentences(item, sentences):
    assert explain(screening.screen(item, POLICY)) == sentences


def contact(rid: str, owner: str = "other") -> Person:
    return Person(
        ref=RecordRef("contact", rid),
        name=f"Jane {rid}",
        emails=[],
        owner_id=owner,
        account_id="acc-1",
        account_name="Acme Corp",
    )


def test_match_sentences():
    found = matching.match(
        ["jane@customer.com", "new@customer.com", ME, "bob@acme-corp.com"],
        {"jane@customer.com": [contact("c1", owner="me-crm"), contact("c2")]},
        policy=POLICY,
        owner_id="me-crm",
        colleagues={"bob@acme-corp.com"},
    )
    assert explain(found) == [
        "jane@customer.com → Jane c1 (owned by you; 1 other match)",
        "not linked: new@customer.com is not in the CRM",
        "not linked: me@acme-corp.com is your own address",
        "not linked: bob@acme-corp.com is a colleague",
    ]


def opp(rid: str, closed: bool = False) -> Opportunity:
    return Opportunity(
        ref=RecordRef("opportunity", rid),
        name="Renewal 2026",
        account_id="acc-1",
        owner_id="me-crm",
        stage="x",
        is_closed=closed,
    )


@pytest.mark.parametrize(
    ("opps", "people", "sentence"),
    [
        (
            [opp("o1", closed=True)],
            [contact("c1")],
            "saved to Acme Corp because the opportunity owned by you is closed",
        ),
        (
            [opp("o1", closed=True), opp("o2", closed=True)],
            [contact("c1")],
            "saved to Acme Corp because the opportunities owned by you are closed",
        ),
        (
            [opp("o1")],
            [contact("c1")],
            'saved to the opportunity "Renewal 2026" because it is owned by you and open',
        ),
        (
            [opp("o1"), opp("o2")],
            [contact("c1")],
            'saved to the opportunity "Renewal 2026" because it is the most recently active '
            "of your open opportunities",
        ),
        ([], [contact("c1")], "saved to Acme Corp because there is no opportunity for it"),
        (
            [],
            [Person(ref=RecordRef("lead", "l1"), name="L", emails=[])],
            "not saved: no opportunity or account for the matched people",
        ),
    ],
)
def test_link_sentences(opps, people, sentence):
    outcome = linking.choose_opportunity(people, opps, owner_id="me-crm")
    assert explain(outcome) == [sentence]


def test_a_whole_chain_reads_in_order():
    item = msg("jane@customer.com", "billing@vendor.com")
    decision = screening.screen(item, POLICY)
    found = matching.match(decision.linkable, {"jane@customer.com": [contact("c1")]}, policy=POLICY)
    outcome = linking.choose_opportunity(
        [contact("c1")], [opp("o1", closed=True)], owner_id="me-crm"
    )
    assert explain(decision, found, None, outcome) == [
        "relevant: 1 outside participant",
        "not linked: billing@vendor.com is a role address",
        "jane@customer.com → Jane c1 (the only match)",
        "saved to Acme Corp because the opportunity owned by you is closed",
    ]


def test_every_code_has_words():
    for code in screening.SKIP_REASONS + screening.KEEP_REASONS:
        assert reason_text(code) != code


def test_braces_in_details_are_harmless():
    decision = screening.Decision(False, screening.SKIP_SUBJECT_KEYWORD, detail="{0}{x}")
    assert explain(decision) == ['skipped: the subject contains "{0}{x}"']


def test_unknown_step_is_an_error():
    with pytest.raises(TypeError):
        explain(42)
