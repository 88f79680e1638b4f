"""The real sync pipeline into the sandbox's Salesforce: the saved set equals the mailbox
generator's labels, with zero duplicates, also when Salesforce misbehaves along the way."""

from __future__ import annotations

from collections import Counter

import pytest
from sqlalchemy import select

from server.crm.salesforce.tokens import store_connection
from server.models.sync import SyncSession
from server.sandbox.directory import DEMO_USERS
from server.sync.jobs import enqueue_session
from tests.integration.sync_helpers import (
    FAST_RETRIES,
    configure_mailboxes,
    expected_from,
    labels_of,
    signed_in_user,
)

from .salesforce_harness import salesforce_settings

ALEX = DEMO_USERS[0]


@pytest.fixture
def app_config(sandbox):
    return {**salesforce_settings(sandbox), **FAST_RETRIES, "CRM_ADAPTER": "salesforce"}


def connected_user(client, sandbox, db):
    sandbox.control("/_sandbox/salesforce/reset", {"seed_demo": True})
    user = signed_in_user(client, sandbox, db, ALEX)
    store_connection(
        user, sandbox.control("/_sandbox/salesforce/grants", {"username": ALEX.email}), ALEX.email
    )
    return user


def _records(sandbox, sobject: str) -> list[dict]:
    return sandbox.control(f"/_sandbox/salesforce/records?sobject={sobject}", method="GET")[
        "records"
    ]


def salesforce_state(sandbox) -> dict[str, dict]:
    """key -> {people: [addresses of linked contacts/leads], accounts: {names}} as saved."""
    addresses: dict[str, set[str]] = {}
    for sobject in ("Contact", "Lead"):
        for row in _records(sandbox, sobject):
            addresses[row["Id"]] = {
                row.get(f).lower()
                for f in ("Email", "Alternate_Email__c", "Other_Email__c")
                if row.get(f)
            }
    accounts = {row["Id"]: row["Name"] for row in _records(sandbox, "Account")}
    account_of = {
        row["Id"]: accounts.get(row.get("AccountId")) for row in _records(sandbox, "Contact")
    }
    opp_account = {row["Id"]: row["AccountId"] for row in _records(sandbox, "Opportunity")}
    state: dict[str, dict] = {}
    by_id: dict[str, dict] = {}
    for row in _records(sandbox, "EmailMessage"):
        assert row["MessageIdentifier"] not in state, f"duplicate {row['MessageIdentifier']}"
        what = row.get("RelatedToId")
        names = (
            {accounts[what]}
            if what in accounts
            else {accounts[opp_account[what]]}
            if what
            else set()
        )
        entry = {"kind": "email", "people": {}, "accounts": names}
        state[row["MessageIdentifier"]] = by_id[row["Id"]] = entry
    for row in _records(sandbox, "EmailMessageRelation"):
        by_id[row["EmailMessageId"]]["people"][row["RelationId"]] = addresses[row["RelationId"]]
        if account_of.get(row["RelationId"]):
            by_id[row["EmailMessageId"]].setdefault("via_people", set()).add(
                account_of[row["RelationId"]]
            )
    for row in _records(sandbox, "Event"):
        assert row["Courier_Key__c"] not in state, f"duplicate {row['Courier_Key__c']}"
        what = row.get("WhatId")
        entry = {
            "kind": "meeting",
            "people": {},
            "accounts": {accounts[what]} if what in accounts else set(),
            "cancelled": row["Subject"].startswith("Cancelled: "),
        }
        state[row["Courier_Key__c"]] = by_id[row["Id"]] = entry
    for row in _records(sandbox, "EventRelation"):
        by_id[row["EventId"]]["people"][row["RelationId"]] = addresses[row["RelationId"]]
    return state


def assert_salesforce_matches(sandbox, expected) -> None:
    state = salesforce_state(sandbox)
    wanted = set(expected.emails) | set(expected.meetings)
    assert sorted(wanted - set(state))[:3] == [] and sorted(set(state) - wanted)[:3] == []
    for key, label in [*expected.emails.items(), *expected.meetings.items()]:
        got = state[key]
        people = list(got["people"].values())
        assert len(people) == len(label["people"]), (key, got, label)
        for address in label["people"]:
            assert any(address in emails for emails in people), (key, address, got)
        if got["kind"] == "meeting" or len(label["accounts"]) <= 1:
            assert got["accounts"] == set(label["accounts"]), (key, got, label)
        else:
            # An email relates to ONE record in Salesforce (RelatedToId); the other accounts see
            # it through their linked contacts, as Salesforce rolls contact activity up.
            assert len(got["accounts"]) == 1 and got["accounts"] <= set(label["accounts"]), (
                key,
                got,
            )
            assert set(label["accounts"]) <= got["accounts"] | got.get("via_people", set()), (
                key,
                got,
            )
    for uid, label in expected.meetings.items():
        assert state[uid]["cancelled"] == label["cancelled"], uid


def _last_session(db, user) -> SyncSession:
    db.expire_all()
    return db.scalars(
        select(SyncSession).where(SyncSession.user_id == user.id).order_by(SyncSession.id.desc())
    ).first()


def test_a_sync_saves_exactly_the_labelled_set_to_salesforce(app, client, sandbox, db, run_jobs):
    configure_mailboxes(sandbox, messages=300, events=20)
    user = connected_user(client, sandbox, db)
    enqueue_session(user.id)
    run_jobs()
    session = _last_session(db, user)
    assert session.status == "succeeded", session.error
    expected = expected_from(labels_of(sandbox, ALEX))
    assert expected.emails and expected.meetings
    assert_salesforce_matches(sandbox, expected)


def test_a_sync_under_salesforce_faults_ends_exact(app, client, sandbox, db, run_jobs):
    configure_mailboxes(sandbox, messages=300, events=20)
    user = connected_user(client, sandbox, db)
    sandbox.control(
        "/_sandbox/salesforce/faults",
        {"failing_records": 25, "ambiguous_writes": 2, "unavailable": 2, "collate_seed": 3},
    )
    sandbox.control("/_sandbox/salesforce/org", {"rotate_refresh_tokens": True})
    sandbox.control("/_sandbox/salesforce/sessions/expire")
    for _ in range(3):  # a failed session is simply run again, as the scheduler would
        enqueue_session(user.id, "now")
        run_jobs()
        if _last_session(db, user).status == "succeeded":
            break
    assert _last_session(db, user).status == "succeeded", _last_session(db, user).error
    expected = expected_from(labels_of(sandbox, ALEX))
    assert_salesforce_matches(sandbox, expected)
    keys = Counter(row["MessageIdentifier"] for row in _records(sandbox, "EmailMessage"))
    assert max(keys.values()) == 1


def test_a_budget_pause_shows_in_health_and_never_stalls(app, client, sandbox, db, run_jobs):
    from server.sync.health import health_for
    from server.sync.scheduler import is_due

    configure_mailboxes(sandbox, messages=60, events=4)
    user = connected_user(client, sandbox, db)
    sandbox.control("/_sandbox/salesforce/org", {"api_used": 99_000, "daily_limit": 100_000})
    for _ in range(3):  # as many as the failures that would turn into "stalled"
        enqueue_session(user.id, "now")
        run_jobs()
        session = _last_session(db, user)
        assert session.status == "paused", session.error
    assert _records(sandbox, "EmailMessage") == []
    health = health_for(user)
    assert health["state"] != "stalled"
    assert health["paused"]["crm"] == "salesforce" and health["paused"]["until"]
    assert health["crm"]["paused"] is True and health["paused_until"]
    # A pause is no failure: the next session comes after the normal interval, no back-off.
    rows = list(
        db.scalars(
            select(SyncSession)
            .where(SyncSession.user_id == user.id)
            .order_by(SyncSession.id.desc())
        )
    )
    from datetime import timedelta

    assert is_due(rows, rows[0].finished_at + timedelta(minutes=10), timedelta(minutes=10))


def test_a_revoked_salesforce_grant_shows_needs_reauth_naming_the_crm(
    app, client, sandbox, db, run_jobs
):
    from server.sync.health import health_for
    from server.sync.scheduler import due_user_ids

    configure_mailboxes(sandbox, messages=30, events=2)
    user = connected_user(client, sandbox, db)
    sandbox.control("/_sandbox/salesforce/grants/revoke", {"username": ALEX.email})
    sandbox.control("/_sandbox/salesforce/sessions/expire")
    enqueue_session(user.id, "now")
    run_jobs()
    assert _last_session(db, user).status == "needs_reauth"
    health = health_for(user)
    assert health["state"] == "needs_reauth" and health["reauth"] == "salesforce"
    assert user.id not in due_user_ids()  # the schedule waits for the user
    # Connecting Salesforce again clears it and the schedule resumes at once.
    store_connection(
        user, sandbox.control("/_sandbox/salesforce/grants", {"username": ALEX.email}), ALEX.email
    )
    db.expire_all()
    assert health_for(user)["state"] != "needs_reauth"
    assert user.id in due_user_ids()
