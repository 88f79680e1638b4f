"""Recurring meetings synced through the sandbox's Graph over HTTPS, as Graph shows them: a
series master plus occurrences with only id, type, seriesMasterId, start and end. The CRM
holds one meeting per real occurrence in the window (the series linked, the master itself
never), and a move, an edit, a cancellation or a deletion of one occurrence changes that
meeting only — in the built-in CRM and in Salesforce."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import select

from server.crm.builtin.models import CrmActivity
from server.rules.keys import meeting_key
from server.sandbox.calendar_series import label_key
from server.sandbox.directory import DEMO_USERS
from server.sync.jobs import enqueue_session
from tests.integration.sync_helpers import (
    FAST_RETRIES,
    assert_crm_matches,
    configure_mailboxes,
    expected_from,
    labels_of,
    signed_in_user,
)

from .salesforce_harness import salesforce_settings
from .test_salesforce_sync import assert_salesforce_matches, connected_user, salesforce_state

ALEX, BIANCA = DEMO_USERS[0], DEMO_USERS[1]
CANCELLED_PREFIX = "Cancelled: "


@pytest.fixture(params=["builtin", "salesforce"])
def crm(request):
    return request.param


@pytest.fixture
def app_config(sandbox, crm):
    if crm.startswith("salesforce"):
        return {
            **salesforce_settings(sandbox),
            **FAST_RETRIES,
            "CRM_ADAPTER": "salesforce",
            # "salesforce-plain": an org without the optional series field on Event.
            "SALESFORCE_SERIES_KEY_FIELD": (
                "" if crm == "salesforce-plain" else "Courier_Series_Key__c"
            ),
        }
    return {**sandbox.settings(), **FAST_RETRIES}


def _sign_in(client, sandbox, db, crm: str):
    if crm.startswith("salesforce"):
        return connected_user(client, sandbox, db)
    return signed_in_user(client, sandbox, db, ALEX)


def _sync(db, user, run_jobs) -> None:
    from server.models.sync import SyncSession

    enqueue_session(user.id, "now")
    run_jobs()
    db.expire_all()
    session = db.scalars(
        select(SyncSession).where(SyncSession.user_id == user.id).order_by(SyncSession.id.desc())
    ).first()
    assert session.status == "succeeded", session.error


def _series(sandbox, person) -> dict[str, dict]:
    """Series master id -> {"master": event, "occurrences": [(event id, event, label)]} of
    the person's calendar, read from the sandbox's state (the test's own knowledge)."""
    from server.sandbox.graph_state import state

    with sandbox.app.app_context():
        box = state().mailbox(person)
        out: dict[str, dict] = {}
        for eid, (_, event) in box.events.items():
            if event.get("type") == "seriesMaster":
                out.setdefault(eid, {"occurrences": []})["master"] = dict(event)
        for eid, (_, event) in box.events.items():
            if event.get("seriesMasterId") in out:
                label = box.event_labels[label_key(event)]
                out[event["seriesMasterId"]]["occurrences"].append((eid, dict(event), label))
        return out


def _meetings(db, sandbox, crm: str, org_id: int) -> dict[str, dict]:
    """Meeting key -> {start, subject, cancelled, series} as the CRM holds it."""
    if crm == "builtin":
        db.expire_all()
        return {
            a.key: {
                "start": a.start.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ"),
                "subject": a.subject,
                "cancelled": a.cancelled,
                "series": a.series_key,
            }
            for a in db.scalars(
                select(CrmActivity).where(
                    CrmActivity.org_id == org_id, CrmActivity.kind == "meeting"
                )
            )
        }
    rows = sandbox.control("/_sandbox/salesforce/records?sobject=Event", method="GET")["records"]
    return {
        row["Courier_Key__c"]: {
            "start": datetime.fromisoformat(row["StartDateTime"].replace("Z", "+00:00"))
            .astimezone(UTC)
            .strftime("%Y-%m-%dT%H:%M:%SZ"),
            "subject": row["Subject"].removeprefix(CANCELLED_PREFIX),
            "cancelled": row["Subject"].startswith(CANCELLED_PREFIX),
            "series": row.get("Courier_Series_Key__c") or "",  # one Event per occurrence
        }
        for row in rows
    }


def _assert_matches(db, sandbox, crm: str, org_id: int, *people) -> None:
    expected = expected_from(*(labels_of(sandbox, p) for p in people))
    if crm == "builtin":
        assert_crm_matches(db, org_id, expected)
    else:
        assert_salesforce_matches(sandbox, expected)
        state = salesforce_state(sandbox)
        for key, label in expected.meetings.items():
            assert state[key]["cancelled"] == label["cancelled"], key


def test_a_weekly_series_is_saved_as_its_occurrences_with_the_series_linked(
    app, client, sandbox, db, run_jobs, crm
):
    # No mail: a calendar-only first session (which held SQLite's write lock against the
    # Salesforce adapter's own writes until the calendar's sync state was committed first).
    configure_mailboxes(sandbox, messages=0, events=12, seed=5)
    user = _sign_in(client, sandbox, db, crm)
    _sync(db, user, run_jobs)
    _assert_matches(db, sandbox, crm, user.org_id, ALEX)

    meetings = _meetings(db, sandbox, crm, user.org_id)
    series = _series(sandbox, ALEX)
    assert len(series) >= 2
    for master_id, found in series.items():
        master = found["master"]
        # The master is no meeting: nothing is saved under its own iCalUId or at its first
        # start unless that is an occurrence's own.
        assert meeting_key(master["iCalUId"]) not in meetings
        saved = [
            (label_key(event), label)
            for _, event, label in found["occurrences"]
            if label["outcome"] == "save"
        ]
        assert len(saved) >= 2, master_id
        for key, label in saved:
            assert meetings[key]["start"] == label["start"]
            assert meetings[key]["series"] == meeting_key(master["iCalUId"])
        starts = sorted(label["start"] for _, label in saved)
        assert len(set(starts)) == len(starts)
        linked = [k for k, m in meetings.items() if m["series"] == master["iCalUId"]]
        assert sorted(linked) == sorted(k for k, _ in saved)


def test_one_occurrence_moved_edited_cancelled_or_deleted_changes_only_its_meeting(
    app, client, sandbox, db, run_jobs, crm
):
    configure_mailboxes(sandbox, messages=0, events=12, seed=5)
    user = _sign_in(client, sandbox, db, crm)
    _sync(db, user, run_jobs)
    before = _meetings(db, sandbox, crm, user.org_id)

    # Four unchanged occurrences in the window, of series only Alex has (a deletion by the
    # only attendee in Courier cancels the meeting).
    own = [
        (eid, event)
        for found in _series(sandbox, ALEX).values()
        if found["master"]["attendees"][0]["emailAddress"]["address"] == ALEX.email
        for eid, event, label in found["occurrences"]
        if label["outcome"] == "save" and event["type"] == "occurrence"
    ]
    own = [(eid, e) for eid, e in own if label_key(e) in before]
    assert len(own) >= 5
    moved, edited, cancelled, deleted, away = (eid for eid, _ in own[:5])
    moved_ev, edited_ev, cancelled_ev, deleted_ev, away_ev = (event for _, event in own[:5])
    base = f"/_sandbox/graph/users/{ALEX.object_id}/events"
    sandbox.control(f"{base}/{moved}/move", {"hours": 2})
    # Moved out of the window: Graph reports it removed; read again, it is still there.
    sandbox.control(f"{base}/{away}/move", {"hours": 24 * 200})
    sandbox.control(f"{base}/{edited}/edit", {"subject": "Weekly sync (agenda changed)"})
    sandbox.control(f"{base}/{cancelled}/cancel")
    sandbox.control(f"{base}/{deleted}/delete")
    _sync(db, user, run_jobs)
    after = _meetings(db, sandbox, crm, user.org_id)

    assert set(after) == set(before)  # same meetings: the exceptions kept their keys
    keys = {
        label_key(e): name
        for name, e in (
            ("moved", moved_ev),
            ("edited", edited_ev),
            ("cancelled", cancelled_ev),
            ("deleted", deleted_ev),
            ("away", away_ev),
        )
    }
    for key, was in before.items():
        now = after[key]
        change = keys.get(key)
        if change is None:
            assert now == was, key
            continue
        if change in ("moved", "away"):
            hours = 2 if change == "moved" else 24 * 200
            start = datetime.fromisoformat(was["start"].replace("Z", "+00:00"))
            assert now["start"] == (start + timedelta(hours=hours)).strftime("%Y-%m-%dT%H:%M:%SZ")
            assert (now["subject"], now["cancelled"]) == (was["subject"], False)
        elif change == "edited":
            assert now["subject"] == "Weekly sync (agenda changed)"
            assert (now["start"], now["cancelled"]) == (was["start"], False)
        else:  # cancelled, or deleted from the calendar: marked cancelled, never deleted
            assert now["cancelled"] is True and now["start"] == was["start"], change
        assert now["series"] == was["series"]
    _assert_matches(db, sandbox, crm, user.org_id, ALEX)


@pytest.mark.parametrize("crm", ["builtin"])
def test_a_series_of_two_users_is_one_crm_meeting_per_occurrence(
    app, client, sandbox, db, run_jobs, crm
):
    """Each calendar has its own occurrence ids; the occurrences still meet."""
    configure_mailboxes(sandbox, messages=0, events=0, seed=5)
    alex = signed_in_user(client, sandbox, db, ALEX)
    client.get("/auth/signout")
    bianca = signed_in_user(client, sandbox, db, BIANCA)
    _sync(db, alex, run_jobs)
    _sync(db, bianca, run_jobs)
    ids = {
        person.email: {
            eid for f in _series(sandbox, person).values() for eid, *_ in f["occurrences"]
        }
        for person in (ALEX, BIANCA)
    }
    assert not ids[ALEX.email] & ids[BIANCA.email]
    labels = [labels_of(sandbox, p) for p in (ALEX, BIANCA)]
    shared = {
        k
        for k, label in labels[0]["events"].items()
        if label["kind"] == "shared_series" and label["outcome"] == "save"
    } & set(labels[1]["events"])
    assert shared
    _assert_matches(db, sandbox, "builtin", alex.org_id, ALEX, BIANCA)


@pytest.mark.parametrize("crm", ["builtin", "salesforce", "salesforce-plain"])
def test_a_whole_series_deleted_cancels_every_occurrence_saved(
    app, client, sandbox, db, run_jobs, crm
):
    """Deleting a series reaches the delta as one "@removed" entry, for the master only: each
    occurrence saved is marked cancelled as if deleted alone — in the built-in CRM, and in
    Salesforce with or without the series field (found through the event-id ledger)."""
    configure_mailboxes(sandbox, messages=0, events=12, seed=5)
    user = _sign_in(client, sandbox, db, crm)
    _sync(db, user, run_jobs)
    before = _meetings(db, sandbox, crm, user.org_id)

    def saved(found: dict) -> list[str]:
        return [label_key(e) for _, e, _ in found["occurrences"] if label_key(e) in before]

    series = _series(sandbox, ALEX)
    master_id, found = next(
        (master_id, found)
        for master_id, found in series.items()
        if found["master"]["attendees"][0]["emailAddress"]["address"] == ALEX.email
        and len(saved(found)) >= 2
    )
    doomed = saved(found)
    assert not any(before[k]["cancelled"] for k in doomed)
    sandbox.control(f"/_sandbox/graph/users/{ALEX.object_id}/events/{master_id}/delete")
    labels = labels_of(sandbox, ALEX)["events"]
    assert all(labels[k]["cancelled"] for k in doomed)  # only Alex had them
    _sync(db, user, run_jobs)
    after = _meetings(db, sandbox, crm, user.org_id)

    assert set(after) == set(before)  # marked cancelled, never deleted
    for key, was in before.items():
        if key in doomed:
            assert after[key] == {**was, "cancelled": True}, key
        else:
            assert after[key] == was, key
    _assert_matches(db, sandbox, crm, user.org_id, ALEX)
