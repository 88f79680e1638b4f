"""Issue 12: every matched person's account is ticked by the same rule, each account and
opportunity row says why it is (not) ticked (rules/ticks.py); and the pane's "will be saved"
is the sync's own decision, history window and opportunity rule included (rules/autosave.py)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from server.crm.base import Person, RecordRef
from server.rules import autosave, linking, matching, ticks
from server.rules.policy import Policy
from tests.unit.test_linking import ME, contact, lead, opp

NOW = datetime(2026, 11, 30, 12, tzinfo=UTC)


def _matches(people: dict[str, list[Person]]):
    return matching.match(list(people), people, policy=Policy(), owner_id=ME)


def test_the_senders_account_is_ticked_like_the_ccd_persons_with_the_opportunity():
    sender = contact("c1", "acc-a", "Alpha")  # from: no opportunity of mine at Alpha
    ccd = contact("c2", "acc-b", "Beta")  # cc: my open opportunity at Beta
    matches = _matches({"c1@x.com": [sender], "c2@x.com": [ccd]})
    opportunities = [opp("o1", account="acc-b")]
    outcome = linking.choose_opportunity([sender, ccd], opportunities, owner_id=ME)
    assert {r.id for r in outcome.refs} == {"o1", "acc-a", "acc-b"}
    found = ticks.account_ticks(matches, outcome)
    assert found["acc-a"] == ticks.Tick(True, ticks.ACCOUNT_OF_PICKED, "Account of c1")
    assert found["acc-b"].default and found["acc-b"].reason == ticks.ACCOUNT_OF_PICKED


def test_an_unticked_account_says_why():
    mine = Person(RecordRef("contact", "c1"), "Kim", ["kim@x.com"], ME, account_id="acc-a")
    other = Person(
        RecordRef("contact", "c9"), "Kim B", ["kim@x.com"], "005-other", account_id="acc-z"
    )
    matches = _matches({"kim@x.com": [mine, other]})
    outcome = linking.choose_opportunity([mine], [], owner_id=ME)
    found = ticks.account_ticks(matches, outcome)
    assert found["acc-a"].default
    assert found["acc-z"] == ticks.Tick(
        False,
        ticks.ACCOUNT_OF_OTHER,
        "Account of Kim B, not the default pick for kim@x.com",
    )


@pytest.mark.parametrize(
    ("opportunity", "link", "reason"),
    [
        (opp("o1", account="acc-a"), True, ticks.OPP_CHOSEN),
        (opp("o2", account="acc-a", closed=True), True, ticks.OPP_CLOSED),
        (opp("o3", account="acc-a", owner="005-other"), True, ticks.OPP_NOT_YOURS),
        (opp("o4", account="acc-elsewhere"), True, ticks.OPP_OTHER_ACCOUNT),
        (opp("o1", account="acc-a"), False, ticks.OPP_LINKING_OFF),
    ],
)
def test_every_opportunity_row_says_why(opportunity, link, reason):
    person = contact("c1", "acc-a")
    outcome = linking.choose_opportunity(
        [person], [opportunity], owner_id=ME, link_to_opportunities=link
    )
    found = ticks.opportunity_ticks([opportunity], outcome, ME, ["acc-a"], link)
    assert found[opportunity.ref.id].reason == reason
    assert found[opportunity.ref.id].default == (reason == ticks.OPP_CHOSEN)


def test_a_less_recent_opportunity_of_mine_says_so():
    older = opp("o1", account="acc-a", when=NOW - timedelta(days=9))
    newer = opp("o2", account="acc-a", when=NOW)
    outcome = linking.choose_opportunity([contact("c1", "acc-a")], [older, newer], owner_id=ME)
    found = ticks.opportunity_ticks([older, newer], outcome, ME, ["acc-a"], True)
    assert found["o2"].default and found["o1"].reason == ticks.OPP_LESS_RECENT


def _verdict(**kw):
    base = {
        "auto_save": "all",
        "thread_rule": False,
        "matched": True,
        "outcome": linking.choose_opportunity([contact("c1")], [], owner_id=ME),
        "received_at": NOW - timedelta(days=1),
        "history_days": 30,
        "now": NOW,
    }
    return autosave.sync_verdict(**{**base, **kw})


@pytest.mark.parametrize(
    ("changes", "saves", "code"),
    [
        ({}, True, autosave.SAVE_ALL),
        ({"received_at": NOW - timedelta(days=31)}, False, autosave.OLDER_THAN_WINDOW),
        (
            {"received_at": NOW - timedelta(days=31), "thread_rule": True},
            False,
            autosave.OLDER_THAN_WINDOW,
        ),
        ({"thread_rule": True, "auto_save": "threads"}, True, autosave.SAVE_THREAD),
        ({"thread_rule": True, "auto_save": "off"}, False, autosave.THREAD_BUT_OFF),
        ({"matched": False}, False, autosave.NO_PERSON),
        (
            {"outcome": linking.choose_opportunity([lead("l1")], [], owner_id=ME)},
            False,
            autosave.NO_ACCOUNT,
        ),
        ({"auto_save": "threads"}, False, autosave.MODE_THREADS),
        ({"auto_save": "off"}, False, autosave.MODE_OFF),
        ({"matched": False, "creates_people": True}, False, autosave.NO_ACCOUNT),
        (
            {"matched": False, "creates_people": True, "link_to_opportunities": False},
            True,
            autosave.SAVE_ALL,
        ),
    ],
)
def test_will_be_saved_is_the_syncs_decision(changes, saves, code):
    assert _verdict(**changes) == autosave.Verdict(saves, code)
