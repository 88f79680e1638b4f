"""The opportunity rule (PRODUCT §2), every outcome with its reason."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from server.crm.base import Account, Opportunity, Person, RecordRef
from server.rules import linking as lk

ME = "005-me"
JAN = datetime(2026, 1, 10, tzinfo=UTC)
MAR = datetime(2026, 3, 10, tzinfo=UTC)


def contact(rid: str, account: str | None = "acc-acme", name="Acme Corp"):
    return Person(
        ref=RecordRef("contact", rid),
        name=rid,
        emails=[f"{rid}@x.com"],
        account_id=account,
        account_name=name if account else "",
    )


def lead(rid: str):
    return Person(ref=RecordRef("lead", rid), name=rid, emails=[f"{rid}@x.com"], company="X")


def opp(rid: str, owner=ME, closed=False, account="acc-acme", when=None):
    return Opportunity(
        ref=RecordRef("opportunity", rid),
        name=f"Deal {rid}",
        account_id=account,
        owner_id=owner,
        stage="Closed Won" if closed else "Proposal",
        is_closed=closed,
        last_activity_at=when,
    )


# (name, people, opportunities, kwargs, save, outcome, reason, opportunity id, account ids)
CASES = [
    (
        "owned open opportunity",
        [contact("c1")],
        [opp("o1")],
        {},
        True,
        lk.OPPORTUNITY,
        lk.WHY_OWNED_OPEN,
        "o1",
        ["acc-acme"],
    ),
    (
        "most recently active of several",
        [contact("c1")],
        [opp("o1", when=JAN), opp("o2", when=MAR), opp("o3")],
        {},
        True,
        lk.OPPORTUNITY,
        lk.WHY_MOST_RECENT,
        "o2",
        ["acc-acme"],
    ),
    (
        "someone else's opportunity is passed over",
        [contact("c1")],
        [opp("o1", owner="005-other", when=MAR), opp("o2", when=JAN)],
        {},
        True,
        lk.OPPORTUNITY,
        lk.WHY_OWNED_OPEN,
        "o2",
        ["acc-acme"],
    ),
    (
        "closed opportunity: goes to the account",
        [contact("c1")],
        [opp("o1", closed=True)],
        {},
        True,
        lk.ACCOUNT,
        lk.WHY_CLOSED,
        None,
        ["acc-acme"],
    ),
    (
        "only others' opportunities: account",
        [contact("c1")],
        [opp("o1", owner="005-other")],
        {},
        True,
        lk.ACCOUNT,
        lk.WHY_NOT_YOURS,
        None,
        ["acc-acme"],
    ),
    (
        "no opportunity: account",
        [contact("c1")],
        [],
        {},
        True,
        lk.ACCOUNT,
        lk.WHY_NO_OPPORTUNITY,
        None,
        ["acc-acme"],
    ),
    (
        "opportunity of an account without a contact among participants",
        [contact("c1")],
        [opp("o9", account="acc-other")],
        {},
        True,
        lk.ACCOUNT,
        lk.WHY_NO_OPPORTUNITY,
        None,
        ["acc-acme"],
    ),
    (
        "no account either: not saved",
        [lead("l1")],
        [],
        {},
        False,
        lk.NOT_SAVED,
        lk.WHY_NO_ACCOUNT,
        None,
        [],
    ),
    (
        "contact without account: not saved",
        [contact("c1", account=None)],
        [opp("o1")],
        {},
        False,
        lk.NOT_SAVED,
        lk.WHY_NO_ACCOUNT,
        None,
        [],
    ),
    (
        "no CRM owner id: nothing is yours",
        [contact("c1")],
        [opp("o1")],
        {"owner_id": None},
        True,
        lk.ACCOUNT,
        lk.WHY_NOT_YOURS,
        None,
        ["acc-acme"],
    ),
    (
        "linking off: people and accounts",
        [contact("c1")],
        [opp("o1")],
        {"link_to_opportunities": False},
        True,
        lk.ACCOUNT,
        lk.WHY_LINKING_OFF,
        None,
        ["acc-acme"],
    ),
    (
        "linking off, leads only: the people",
        [lead("l1")],
        [],
        {"link_to_opportunities": False},
        True,
        lk.PEOPLE_ONLY,
        lk.WHY_LINKING_OFF,
        None,
        [],
    ),
    (
        # The sender's account too, not only the cc'd person's with the opportunity (issue 12).
        "two accounts, opportunity on one: both accounts",
        [contact("c1"), contact("c2", "acc-b", "Beta")],
        [opp("o1", account="acc-b")],
        {},
        True,
        lk.OPPORTUNITY,
        lk.WHY_OWNED_OPEN,
        "o1",
        ["acc-acme", "acc-b"],
    ),
    (
        "two accounts, no opportunity: both",
        [contact("c1"), contact("c2", "acc-b", "Beta")],
        [],
        {},
        True,
        lk.ACCOUNT,
        lk.WHY_NO_OPPORTUNITY,
        None,
        ["acc-acme", "acc-b"],
    ),
    (
        "domain-matched account as fallback",
        [lead("l1")],
        [],
        {"domain_accounts": [Account(RecordRef("account", "acc-d"), "Delta", ["d.com"])]},
        True,
        lk.ACCOUNT,
        lk.WHY_NO_OPPORTUNITY,
        None,
        ["acc-d"],
    ),
]


@pytest.mark.parametrize(
    ("name", "people", "opps", "kwargs", "save", "outcome", "reason", "opp", "accounts"),
    CASES,
    ids=[c[0] for c in CASES],
)
def test_opportunity_rule(name, people, opps, kwargs, save, outcome, reason, opp, accounts):
    kwargs = {"owner_id": ME, **kwargs}
    result = lk.choose_opportunity(people, opps, **kwargs)
    assert (result.save, result.outcome, result.reason) == (save, outcome, reason)
    assert (result.opportunity.ref.id if result.opportunity else None) == opp
    assert [a.id for a in result.accounts] == accounts


def test_refs_put_the_opportunity_first():
    result = lk.choose_opportunity([contact("c1")], [opp("o1")], owner_id=ME)
    assert result.refs == [RecordRef("opportunity", "o1"), RecordRef("account", "acc-acme")]


def test_closed_ones_are_kept_for_the_explanation():
    result = lk.choose_opportunity([contact("c1")], [opp("o1", closed=True)], owner_id=ME)
    assert [o.ref.id for o in result.passed_over] == ["o1"]


def test_rank_opportunities_for_the_pane():
    ranked = lk.rank_opportunities(
        [
            opp("closed", closed=True, when=MAR),
            opp("theirs", owner="x", when=MAR),
            opp("mine-old", when=JAN),
            opp("mine-new", when=MAR),
        ],
        owner_id=ME,
    )
    assert [o.ref.id for o in ranked] == ["mine-new", "mine-old", "theirs", "closed"]
