"""Matching (PRODUCT §1): candidates with reasons and the default pick."""

from __future__ import annotations

import dataclasses
from datetime import UTC, datetime

import pytest

from server.crm.base import Account, Person, RecordRef
from server.mail.base import parse_participant
from server.rules import matching as m
from server.rules.policy import Policy

ME_CRM = "005-me"
POLICY = Policy(internal_domains={"acme-corp.com"}, own_addresses={"me@acme-corp.com"})
JAN = datetime(2026, 1, 10, tzinfo=UTC)
MAR = datetime(2026, 3, 10, tzinfo=UTC)


def person(kind: str, rid: str, owner: str | None = "005-other", when=None, account=None):
    return Person(
        ref=RecordRef(kind, rid),
        name=f"{kind} {rid}",
        emails=["x@customer.com"],
        owner_id=owner,
        last_activity_at=when,
        account_id=account,
    )


def account(rid: str, owner="005-other", domains=("customer.com",)):
    return Account(
        ref=RecordRef("account", rid), name=f"Account {rid}", domains=list(domains), owner_id=owner
    )


# (name, candidates, remembered, policy change, expected pick id, pick reason)
PICKS = [
    ("only match", [person("contact", "c1")], None, {}, "c1", m.PICK_ONLY_MATCH),
    (
        "owned by you beats recent",
        [person("contact", "c1", when=MAR), person("contact", "c2", owner=ME_CRM, when=JAN)],
        None,
        {},
        "c2",
        m.PICK_OWNED,
    ),
    (
        "most recent activity",
        [person("contact", "c1", when=JAN), person("contact", "c2", when=MAR)],
        None,
        {},
        "c2",
        m.PICK_RECENT,
    ),
    (
        "activity beats none",
        [person("contact", "c1"), person("lead", "l1", when=JAN)],
        None,
        {},
        "l1",
        m.PICK_RECENT,
    ),
    (
        "contact before lead",
        [person("lead", "l1", when=JAN), person("contact", "c1", when=JAN)],
        None,
        {},
        "c1",
        m.PICK_CONTACT,
    ),
    (
        "equal: stable by id",
        [person("contact", "c2"), person("contact", "c1")],
        None,
        {},
        "c1",
        m.PICK_FIRST,
    ),
    (
        "remembered beats owned",
        [person("contact", "c1", owner=ME_CRM), person("lead", "l1")],
        RecordRef("lead", "l1"),
        {},
        "l1",
        m.PICK_REMEMBERED,
    ),
    (
        "remembered record gone: normal order",
        [person("contact", "c1")],
        RecordRef("contact", "gone"),
        {},
        "c1",
        m.PICK_ONLY_MATCH,
    ),
    (
        "only my records: picks the owned one",
        [person("contact", "c1", when=MAR), person("lead", "l1", owner=ME_CRM)],
        None,
        {"only_my_records": True},
        "l1",
        m.PICK_ONLY_MATCH,
    ),
    (
        "only my records, remembered still honoured",
        [person("contact", "c1")],
        RecordRef("contact", "c1"),
        {"only_my_records": True},
        "c1",
        m.PICK_REMEMBERED,
    ),
]


@pytest.mark.parametrize(
    ("name", "people", "remembered", "change", "pick", "reason"), PICKS, ids=[c[0] for c in PICKS]
)
def test_default_pick(name, people, remembered, change, pick, reason):
    policy = dataclasses.replace(POLICY, **change) if change else POLICY
    found = m.match(
        ["jane@customer.com"],
        {"jane@customer.com": people},
        policy=policy,
        owner_id=ME_CRM,
        remembered={"jane@customer.com": remembered} if remembered else None,
    )
    result = found["jane@customer.com"]
    assert result.pick is not None and result.pick.id == pick
    assert result.pick_reason == reason
    assert {c.ref for c in result.candidates} == {p.ref for p in people}


# (name, address, candidates, policy change, accounts by domain, expected no-match reason)
NO_MATCHES = [
    ("own address", "me@acme-corp.com", [person("contact", "c1")], {}, {}, m.NO_MATCH_OWN),
    ("colleague", "bob@acme-corp.com", [person("contact", "c1")], {}, {}, m.NO_MATCH_COLLEAGUE),
    (
        "anyone on the organisation's domains, even as a CRM contact",
        "carol@eu.acme-corp.com",
        [person("contact", "c1")],
        {},
        {},
        m.NO_MATCH_COLLEAGUE,
    ),
    (
        "a colleague's alias on another domain",
        "carol@acme-subsidiary.com",
        [person("contact", "c1")],
        {"colleague_addresses": {"carol@acme-subsidiary.com"}},
        {},
        m.NO_MATCH_COLLEAGUE,
    ),
    ("not in CRM", "new@customer.com", [], {}, {}, m.NO_MATCH_NOT_IN_CRM),
    ("invalid", "garbage", [], {}, {}, m.NO_MATCH_INVALID),
    (
        "only others' records",
        "jane@customer.com",
        [person("contact", "c1")],
        {"only_my_records": True},
        {},
        m.NO_MATCH_NOT_OWNED,
    ),
    (
        "domain of two accounts",
        "new@customer.com",
        [],
        {"match_by_domain": True},
        {"customer.com": [account("a1"), account("a2")]},
        m.NO_MATCH_DOMAIN_AMBIGUOUS,
    ),
    (
        "domain match off",
        "new@customer.com",
        [],
        {},
        {"customer.com": [account("a1")]},
        m.NO_MATCH_NOT_IN_CRM,
    ),
    (
        "personal domains never match an account",
        "friend@gmail.com",
        [],
        {"match_by_domain": True},
        {"gmail.com": [account("a1", domains=("gmail.com",))]},
        m.NO_MATCH_NOT_IN_CRM,
    ),
    (
        "only my records: domain account not mine",
        "new@customer.com",
        [],
        {"match_by_domain": True, "only_my_records": True},
        {"customer.com": [account("a1")]},
        m.NO_MATCH_NOT_IN_CRM,
    ),
]


@pytest.mark.parametrize(
    ("name", "address", "people", "change", "by_domain", "reason"),
    NO_MATCHES,
    ids=[c[0] for c in NO_MATCHES],
)
def test_no_match(name, address, people, change, by_domain, reason):
    policy = dataclasses.replace(POLICY, **change) if change else POLICY
    found = m.match(
        [address],
        {address: people},
        policy=policy,
        owner_id=ME_CRM,
        colleagues={"bob@acme-corp.com"},
        accounts_by_domain=by_domain,
    )[address]
    assert found.pick is None
    assert found.no_match_reason == reason


def test_match_by_domain_uses_the_registrable_domain():
    policy = dataclasses.replace(POLICY, match_by_domain=True)
    found = m.match(
        ["new@eu.customer.co.uk"],
        {},
        policy=policy,
        accounts_by_domain={"customer.co.uk": [account("a1")]},
    )
    result = found["new@eu.customer.co.uk"]
    assert result.pick == RecordRef("account", "a1")
    assert result.pick_reason == m.PICK_DOMAIN
    assert result.account is not None and result.account.name == "Account a1"


def test_domains_to_look_up_lists_registrable_domains_of_people_not_in_crm():
    found = m.match(
        ["new@eu.customer.co.uk", "jane@known.com", "me@acme-corp.com"],
        {"jane@known.com": [person("contact", "c1")]},
        policy=POLICY,
    )
    assert m.domains_to_look_up(found) == ["customer.co.uk"]


def test_accepts_participants_and_dedupes():
    jane = parse_participant("Jane@Customer.com")
    found = m.match(
        [jane, "JANE@customer.com"], {"jane@customer.com": [person("contact", "c1")]}, policy=POLICY
    )
    assert list(found) == ["jane@customer.com"]


def test_candidates_are_ranked_and_carry_reasons():
    people = [
        person("lead", "l1", when=MAR),
        person("contact", "c1", owner=ME_CRM),
        person("contact", "c1", owner=ME_CRM),
    ]  # the same record twice
    result = m.match(
        ["jane@customer.com"], {"jane@customer.com": people}, policy=POLICY, owner_id=ME_CRM
    )["jane@customer.com"]
    assert [c.ref.id for c in result.candidates] == ["c1", "l1"]
    assert result.candidates[0].reasons == ["owned_by_you", "contact"]
    assert result.candidates[1].reasons == ["owned_by_someone_else", "lead"]


def test_no_owner_id_means_nothing_is_owned():
    people = [person("contact", "c1", owner=None), person("contact", "c2", owner=None, when=JAN)]
    result = m.match(["a@b.com"], {"a@b.com": people}, policy=POLICY, owner_id=None)["a@b.com"]
    assert result.pick == RecordRef("contact", "c2")
    assert result.pick_reason == m.PICK_RECENT


def test_naive_and_aware_activity_times_compare():
    people = [person("contact", "c1", when=datetime(2026, 5, 1)), person("contact", "c2", when=JAN)]
    result = m.match(["a@b.com"], {"a@b.com": people}, policy=POLICY)["a@b.com"]
    assert result.pick == RecordRef("contact", "c1")
