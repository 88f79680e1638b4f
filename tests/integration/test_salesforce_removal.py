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


def _meeting(key: str, *links: Link) -> ActivityDraft:
    return ActivityDraft(key=key, kind="meeting", subject="Kick-off", start=T0, links=list(links))


def test_a_meetings_invitee_goes_by_deleting_its_event_relation(h):
    """Event: a person is an EventRelation row (deleted to unlink; its RelationId cannot be
    edited, the sandbox refuses as Salesforce does), the account or opportunity is WhatId
    (cleared); an account that comes with the opportunity goes only with it; deleting the
    Event takes its relations along."""
    account, opp, ana, ben = _world(h)
    [logged] = h.crm.log_meetings(
        [
            _meeting(
                "uid:kick-off@acme.test", Link(ana, "attendee"), Link(ben, "attendee"), Link(opp)
            )
        ]
    )
    [row] = [r for r in _records(h, "EventRelation") if r["RelationId"] == ben.id]
    refused = h.crm.client.composite(
        [
            {
                "method": "PATCH",
                "url": f"{h.crm.client.base_path}/sobjects/EventRelation/{row['Id']}",
                "referenceId": "edit",
                "body": {"RelationId": ana.id},
            }
        ],
        write=True,
    )
    assert "INVALID_FIELD_FOR_INSERT_UPDATE" in str(refused)

    left = h.crm.unlink_meeting(logged.id, [ben])
    assert {link.ref for link in left} == {ana, opp, RecordRef("account", account)}
    assert not [r for r in _records(h, "EventRelation") if r["RelationId"] == ben.id]
    with pytest.raises(CRMValidationError, match="opportunity"):
        h.crm.unlink_meeting(logged.id, [RecordRef("account", account)])
    left = h.crm.unlink_meeting(logged.id, [opp])
    assert {link.ref for link in left} == {ana}
    [event] = [e for e in _records(h, "Event") if e["Id"] == logged.id]
    assert event["WhatId"] is None

    h.crm.delete_meetings([logged.id])
    assert not [e for e in _records(h, "Event") if e["Id"] == logged.id]
    assert not [r for r in _records(h, "EventRelation") if r["EventId"] == logged.id]
