"""Salesforce specifics of cards, unlink and delete beyond the contract suite: the Task mode
(WhoId, TaskRelation, WhatId) and what Salesforce refuses for an Enhanced Email."""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, datetime

import pytest

from server.crm.base import ActivityDraft, ActivityParticipant, CRMValidationError, Link, RecordRef

from .salesforce_harness import SalesforceHarness

T0 = datetime(2026, 3, 2, 9, 30, tzinfo=UTC)


@pytest.fixture
def h(app, sandbox, db):
    return SalesforceHarness(sandbox, db)


def _email(key: str, *links: Link) -> ActivityDraft:
    return ActivityDraft(
        key=key,
        kind="email",
        subject="Proposal",
        start=T0,
        participants=[ActivityParticipant("ana@acme.test", "Ana", "from")],
        links=list(links),
    )


def _records(h, sobject: str) -> list[dict]:
    answer = h.sandbox.control(f"/_sandbox/salesforce/records?sobject={sobject}", method="GET")
    return answer["records"]


def _world(h):
    account = h.add_account("Acme", ["acme.test"])
    opp = h.add_opportunity("Acme renewal", account)
    ana = RecordRef("contact", h.add_contact("Ana Bauer", ["ana@acme.test"], account))
    ben = RecordRef("contact", h.add_contact("Ben Cruz", ["ben@acme.test"], account))
    return account, RecordRef("opportunity", opp), ana, ben


def test_task_mode_cards_unlink_and_delete(h):
    h.crm.options = replace(h.crm.options, email_mode="task")
    account, opp, ana, ben = _world(h)
    [logged] = h.crm.log_emails(
        [_email("<task@acme.test>", Link(ana, "from"), Link(ben, "to"), Link(opp))]
    )
    cards = h.crm.person_cards([ana, ben])
    assert [a.subject for a in cards[ana].recent] == ["Proposal"]  # the Task's WhoId
    assert [a.subject for a in cards[ben].recent] == ["Proposal"]  # a TaskRelation

    left = h.crm.unlink_email(logged.id, [ana])  # the WhoId
    assert ana not in {link.ref for link in left} and ben in {link.ref for link in left}
    [task] = [t for t in _records(h, "Task") if t["Id"] == logged.id]
    assert task["WhoId"] is None and task["WhatId"] == opp.id

    with pytest.raises(CRMValidationError, match="opportunity"):
        h.crm.unlink_email(logged.id, [RecordRef("account", account)])
    left = h.crm.unlink_email(logged.id, [opp])
    assert {link.ref for link in left} == {ben}

    h.crm.delete_emails([logged.id])
    assert not [t for t in _records(h, "Task") if t["Id"] == logged.id]
    assert not [r for r in _records(h, "TaskRelation") if r["TaskId"] == logged.id]


def test_an_enhanced_emails_account_stays_linked(h):
    account, _opp, ana, _ben = _world(h)
    [logged] = h.crm.log_emails(
        [_email("<enh@acme.test>", Link(ana, "from"), Link(RecordRef("account", account)))]
    )
    with pytest.raises(CRMValidationError, match="draft"):
        h.crm.unlink_email(logged.id, [RecordRef("account", account)])
    stored = h.crm.find_activities(["<enh@acme.test>"])["<enh@acme.test>"]
    assert RecordRef("account", account) in {link.ref for link in stored.links}
