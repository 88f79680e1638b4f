"""Salesforce under faults: exact end state, zero duplicates, the budget respected.

Everything runs over HTTPS against the sandbox's Salesforce; the switches under
/_sandbox/salesforce/ inject the faults and count the API calls.
"""

from __future__ import annotations

from collections import Counter
from datetime import UTC, datetime, timedelta

import pytest
from flask import current_app
from sqlalchemy import select

from server.crm.base import (
    ActivityDraft,
    ActivityParticipant,
    CRMBudgetExceeded,
    Link,
    RecordRef,
)
from server.crm.salesforce import SalesforceCRM
from server.crm.salesforce.connect import connection_status
from server.models.crm_connections import SalesforceOrgState

from .salesforce_harness import connect_user, salesforce_settings

T0 = datetime(2026, 3, 2, 9, 0, tzinfo=UTC)


@pytest.fixture
def app_config(sandbox):
    return salesforce_settings(sandbox)


@pytest.fixture
def sf(sandbox, db):
    """A connected user's adapter over an empty org with two contacts and an account."""
    user = connect_user(sandbox, db)
    crm = SalesforceCRM.for_user(user)
    account = _record(sandbox, "Account", {"Name": "Acme", "Website": "https://acme.test"})
    ana = _record(
        sandbox,
        "Contact",
        {"LastName": "Bauer", "FirstName": "Ana", "Email": "ana@acme.test", "AccountId": account},
    )
    ben = _record(
        sandbox,
        "Contact",
        {"LastName": "Cruz", "FirstName": "Ben", "Email": "ben@acme.test", "AccountId": account},
    )
    crm.fixture = {"user": user, "account": account, "ana": ana, "ben": ben}
    return crm


def _record(sandbox, sobject: str, fields: dict) -> str:
    return sandbox.control("/_sandbox/salesforce/records", {"sobject": sobject, "fields": fields})[
        "id"
    ]


def _records(sandbox, sobject: str) -> list[dict]:
    return sandbox.control(f"/_sandbox/salesforce/records?sobject={sobject}", method="GET")[
        "records"
    ]


def _calls(sandbox) -> int:
    return sandbox.control("/_sandbox/salesforce/stats", method="GET")["api_calls"]


def _faults(sandbox, **values) -> None:
    sandbox.control("/_sandbox/salesforce/faults", values)


def _emails(sf, count: int, prefix: str = "m", body: str = "Hello") -> list[ActivityDraft]:
    ana, ben, account = (
        RecordRef("contact", sf.fixture["ana"]),
        RecordRef("contact", sf.fixture["ben"]),
        RecordRef("account", sf.fixture["account"]),
    )
    return [
        ActivityDraft(
            key=f"<{prefix}{n}@acme.test>",
            kind="email",
            subject=f"Quote {n}",
            start=T0 + timedelta(minutes=n),
            body_text=body,
            participants=[
                ActivityParticipant("ana@acme.test", "Ana", "from"),
                ActivityParticipant("ben@acme.test", "Ben", "to"),
            ],
            links=[Link(ana, "from"), Link(ben, "to"), Link(account)],
        )
        for n in range(count)
    ]


def _assert_exactly_once(sandbox, drafts: list[ActivityDraft]) -> None:
    emails = _records(sandbox, "EmailMessage")
    keys = Counter(e["MessageIdentifier"] for e in emails)
    assert keys == Counter(d.key for d in drafts)  # every key, once
    relations = Counter(
        (r["EmailMessageId"], r["RelationId"], r["RelationType"])
        for r in _records(sandbox, "EmailMessageRelation")
    )
    assert all(n == 1 for n in relations.values())
    assert len(relations) == 2 * len(drafts)  # from + to, each once


def test_partial_collection_failures_retry_only_the_failed_records(sandbox, sf):
    drafts = _emails(sf, 250)
    _faults(sandbox, failing_records=9)
    logged = sf.log_emails(drafts)
    assert all(item.created for item in logged) and len({item.id for item in logged}) == 250
    _assert_exactly_once(sandbox, drafts)


def test_an_ambiguous_write_is_looked_up_before_it_is_repeated(sandbox, sf):
    drafts = _emails(sf, 40)
    _faults(sandbox, ambiguous_writes=1)  # the insert happens, the answer is a 503
    logged = sf.log_emails(drafts)
    assert [item.key for item in logged] == [d.key for d in drafts]
    _assert_exactly_once(sandbox, drafts)


def test_503_and_slow_reads_are_retried(sandbox, sf):
    _faults(sandbox, unavailable=2, slow_calls=1, slow_ms=200)
    before = _calls(sandbox)
    found = sf.find_people(["ana@acme.test"])
    assert [p.ref.id for p in found["ana@acme.test"]] == [sf.fixture["ana"]]
    assert _calls(sandbox) - before == 3  # two 503s, then the answer


def test_writes_under_every_fault_at_once_end_exact(sandbox, sf):
    drafts = _emails(sf, 120)
    _faults(sandbox, unavailable=1, failing_records=5, ambiguous_writes=2, collate_seed=5)
    sf.log_emails(drafts[:60])
    sf.log_emails(drafts)  # a rerun overlapping the first
    _assert_exactly_once(sandbox, drafts)


@pytest.mark.parametrize("key_field", ["MessageIdentifier", "Courier_Key__c"])
def test_crash_between_the_insert_and_our_ledger_write(sandbox, db, key_field):
    """The collection insert succeeded, then the worker died before the ledger commit. The
    rerun (a fresh adapter, as after a restart) finds the earlier writes by our key."""
    current_app.config["SALESFORCE_EMAIL_KEY_FIELD"] = key_field
    user = connect_user(sandbox, db)
    crm = SalesforceCRM.for_user(user)
    account = _record(sandbox, "Account", {"Name": "Acme"})
    ana = _record(
        sandbox, "Contact", {"LastName": "Bauer", "Email": "ana@acme.test", "AccountId": account}
    )
    ben = _record(
        sandbox, "Contact", {"LastName": "Cruz", "Email": "ben@acme.test", "AccountId": account}
    )
    crm.fixture = {"account": account, "ana": ana, "ben": ben}
    drafts = _emails(crm, 30)
    first = crm.log_emails(drafts)  # ... and the process dies here: no ledger row was written
    rerun = SalesforceCRM.for_user(user).log_emails(drafts)
    assert not any(item.created for item in rerun)
    assert [item.id for item in rerun] == [item.id for item in first]
    assert all(item.added_links == [] for item in rerun)
    assert {e[key_field] for e in _records(sandbox, "EmailMessage")} == {d.key for d in drafts}
    _assert_exactly_once(sandbox, drafts)


def test_writes_pause_near_the_daily_allowance_and_reads_go_on(sandbox, sf, db):
    sandbox.control("/_sandbox/salesforce/org", {"api_used": 79_999, "daily_limit": 100_000})
    found = sf.find_people(["ben@acme.test"])  # this call reaches 80 %
    assert "ben@acme.test" in found
    with pytest.raises(CRMBudgetExceeded) as raised:
        sf.log_emails(_emails(sf, 3))
    assert raised.value.resume_at is not None and raised.value.resume_at > datetime.now(UTC)
    assert _records(sandbox, "EmailMessage") == []
    assert sf.find_people(["ana@acme.test"])  # reads continue
    row = db.scalar(select(SalesforceOrgState))
    assert row.paused_until is not None and row.api_used >= 80_000 and row.api_limit == 100_000
    status = connection_status(sf.fixture["user"])
    assert status["budget"]["paused"] is True and "80%" in status["budget"]["pause_reason"]
    # A new adapter (another job) honours the stored pause without asking Salesforce.
    before = _calls(sandbox)
    with pytest.raises(CRMBudgetExceeded):
        SalesforceCRM.for_user(sf.fixture["user"]).log_emails(_emails(sf, 1))
    assert _calls(sandbox) == before


def test_request_limit_exceeded_pauses_the_org(sandbox, sf, db):
    _faults(sandbox, request_limit_exceeded=1)
    with pytest.raises(CRMBudgetExceeded):
        sf.find_people(["ana@acme.test"])
    # The pause is stored at once (another worker's adapter sees it) ...
    assert db.scalar(select(SalesforceOrgState)).pause_reason.startswith("Salesforce answered")
    before = _calls(sandbox)
    with pytest.raises(CRMBudgetExceeded):
        SalesforceCRM.for_user(sf.fixture["user"]).log_emails(_emails(sf, 1))
    assert _calls(sandbox) == before  # ... and costs no further call


def test_long_address_lists_go_in_one_composite_call(sandbox, sf):
    addresses = [f"someone.with.a.long.name{n}@acme.test" for n in range(250)] + ["ana@acme.test"]
    before = _calls(sandbox)
    found = sf.find_people(addresses)
    assert list(found) == ["ana@acme.test"]
    assert _calls(sandbox) - before == 1
    # The per-organisation cache answers the same addresses without an API call.
    assert sf.find_people(addresses) == found and _calls(sandbox) - before == 1


def test_query_paging_follows_next_records_url(sandbox, sf):
    sandbox.control("/_sandbox/salesforce/org", {"batch_size": 7})
    accounts = [_record(sandbox, "Account", {"Name": f"A{n}"}) for n in range(3)]
    for n in range(30):
        _record(
            sandbox,
            "Opportunity",
            {
                "Name": f"O{n}",
                "AccountId": accounts[n % 3],
                "StageName": "Prospecting",
                "CloseDate": "2026-12-31",
            },
        )
    before = _calls(sandbox)
    assert len(sf.opportunities_of(accounts)) == 30
    assert _calls(sandbox) - before == 5  # 30 rows in pages of 7


def test_long_bodies_are_truncated_with_a_visible_marker(sandbox, sf):
    body = "word " * 9_000  # 45,000 characters
    [draft] = _emails(sf, 1, body=body)
    draft.subject = "S" * 300
    sf.log_emails([draft])
    [stored] = _records(sandbox, "EmailMessage")
    assert (
        len(stored["TextBody"]) == 32_000 and "[Truncated by Courier:" in stored["TextBody"][-80:]
    )
    assert len(stored["Subject"]) == 255 and stored["Subject"].endswith("…")


def test_task_mode_writes_completed_email_tasks_with_relations(sandbox, sf):
    sf.options = type(sf.options)(**{**sf.options.__dict__, "email_mode": "task"})
    drafts = _emails(sf, 3)
    logged = sf.log_emails(drafts)
    assert all(item.created for item in logged)
    tasks = _records(sandbox, "Task")
    assert len(tasks) == 3
    assert {(t["TaskSubtype"], t["Status"], t["WhoId"], t["WhatId"]) for t in tasks} == {
        ("Email", "Completed", sf.fixture["ana"], sf.fixture["account"])
    }
    relations = _records(sandbox, "TaskRelation")
    assert {r["RelationId"] for r in relations} == {sf.fixture["ben"]} and len(relations) == 3
    again = sf.log_emails(drafts)
    assert not any(item.created for item in again) and len(_records(sandbox, "Task")) == 3
    assert set(sf.find_activities([drafts[0].key])[drafts[0].key].links) == {
        Link(RecordRef("contact", sf.fixture["ana"])),
        Link(RecordRef("contact", sf.fixture["ben"])),
        Link(RecordRef("account", sf.fixture["account"])),
    }


def test_timeouts_are_retried_for_reads_and_looked_up_for_writes(sandbox, sf):
    current_app.config["HTTP_TIMEOUT_SECONDS"] = 1
    crm = SalesforceCRM.for_user(sf.fixture["user"])
    crm.fixture = sf.fixture
    _faults(sandbox, slow_calls=1, slow_ms=1_500)
    assert crm.find_people(["ana@acme.test"])  # the first try timed out, the retry answered
    drafts = _emails(crm, 20)
    _faults(sandbox, slow_calls=1, slow_ms=1_500)  # the write lands, its answer comes too late
    logged = crm.log_emails(drafts)
    assert [item.key for item in logged] == [d.key for d in drafts]
    _assert_exactly_once(sandbox, drafts)


def test_shared_activity_rules_one_lead_or_up_to_fifty_contacts(sandbox, sf):
    lead = RecordRef("lead", _record(sandbox, "Lead", {"LastName": "Kim", "Company": "Kim Co"}))
    ana = RecordRef("contact", sf.fixture["ana"])
    meeting = ActivityDraft(
        key="ical-shared",
        kind="meeting",
        subject="Demo",
        start=T0,
        end=T0 + timedelta(hours=1),
        links=[Link(ana, "attendee"), Link(lead, "attendee")],
    )
    [logged] = sf.log_meetings([meeting])
    assert set(logged.links) == {Link(ana, "attendee"), Link(lead, "attendee")}
    relations = {r["RelationId"]: r for r in _records(sandbox, "EventRelation")}
    assert relations[lead.id]["IsParent"] is False and relations[lead.id]["IsInvitee"] is True
    assert relations[ana.id]["IsParent"] is True

    sf.options = type(sf.options)(**{**sf.options.__dict__, "email_mode": "task"})
    [draft] = _emails(sf, 1, prefix="task")
    draft.links.append(Link(lead, "cc"))
    [task] = sf.log_emails([draft])
    assert RecordRef("lead", lead.id) not in {link.ref for link in task.links}  # contacts win
    assert {r["RelationId"] for r in _records(sandbox, "TaskRelation")} == {sf.fixture["ben"]}
