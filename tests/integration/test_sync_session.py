"""Sync sessions over HTTPS against the sandbox's Graph, run by RQ workers on a real Redis:
the CRM's end state equals the generator's labels."""

from __future__ import annotations

from collections import Counter

import pytest
from sqlalchemy import select

from server.models.sync import SyncSession
from server.sandbox.directory import DEMO_USERS
from server.sync.health import health_for
from server.sync.jobs import enqueue_session
from server.sync.scheduler import schedule_tick
from tests.integration.sync_helpers import (
    FAST_RETRIES,
    assert_crm_matches,
    configure_mailboxes,
    expected_from,
    labels_of,
    signed_in_user,
)

ALEX, BIANCA = DEMO_USERS[0], DEMO_USERS[1]


@pytest.fixture
def app_config(sandbox):
    return {**sandbox.settings(), **FAST_RETRIES}


# The session's reason codes, in the labels' words (the screening tells the kinds of
# automated mail apart; a message without one valid address is internal-only to it).
LABEL_REASON = {
    "automated_header": "automated",
    "automated_sender": "automated",
    "no_crm_match": "not_in_crm",  # meetings
    "no_person_matched": "not_in_crm",  # emails (the verdict's code, rules/autosave.py)
}
NEVER_READ = {"junk_folder", "outside_window"}  # not in the folders or the window read


def _skips_by_reason(counts: dict) -> Counter:
    out: Counter = Counter()
    for reason, n in counts.items():
        out[LABEL_REASON.get(reason, reason)] += n
    return out


def _labelled_skips(labels: dict) -> Counter:
    out: Counter = Counter()
    for label in [*labels["messages"].values(), *labels["events"].values()]:
        reason = label.get("reason")
        if label["outcome"] == "skip" and reason not in NEVER_READ:
            out["internal_only" if reason == "no_valid_participants" else reason] += 1
    return out


def _sessions(db, user):
    db.expire_all()
    return list(
        db.scalars(
            select(SyncSession).where(SyncSession.user_id == user.id).order_by(SyncSession.id)
        )
    )


def test_initial_sync_saves_exactly_the_labelled_set_and_then_nothing(
    app, client, sandbox, db, run_jobs
):
    configure_mailboxes(sandbox, messages=400, events=30)
    user = signed_in_user(client, sandbox, db, ALEX)
    assert health_for(user)["state"] == "not_started"

    assert enqueue_session(user.id) is not None
    assert enqueue_session(user.id) is None  # one session per mailbox
    run_jobs()
    first = _sessions(db, user)[-1]
    assert first.status == "succeeded", first.error
    labels = labels_of(sandbox, ALEX)
    expected = expected_from(labels)
    assert_crm_matches(db, user.org_id, expected)
    assert first.saved == len(expected.emails) + len(expected.meetings)
    assert _skips_by_reason(first.counts) == _labelled_skips(labels)
    assert health_for(user)["state"] == "up_to_date"

    # A second session reads only changes: one $batch HTTP call holding one request per
    # folder and one for the calendar, no CRM call, nothing saved.
    sandbox.control("/_sandbox/graph/stats/reset")
    enqueue_session(user.id, "now")
    run_jobs()
    second = _sessions(db, user)[-1]
    assert second.status == "succeeded", second.error
    assert second.saved == 0 and second.crm_calls == 0
    assert second.graph_requests == 1
    served = sandbox.control("/_sandbox/graph/stats", method="GET")["by_kind"]
    assert served == {"batch": 1, "message_delta": 3, "calendar_delta": 1}
    assert_crm_matches(db, user.org_id, expected)


def test_new_mail_and_event_changes_reach_the_crm_in_the_next_session(
    app, client, sandbox, db, run_jobs
):
    configure_mailboxes(sandbox, messages=120, events=12)
    user = signed_in_user(client, sandbox, db, ALEX)
    enqueue_session(user.id)
    run_jobs()
    labels = labels_of(sandbox, ALEX)
    meeting = next(
        e for e in labels["events"].values() if e["outcome"] == "save" and e["kind"] == "external"
    )
    event_id = next(eid for eid in _event_ids(sandbox, ALEX) if eid[1] == meeting)[0]

    sandbox.control(f"/_sandbox/graph/users/{ALEX.object_id}/messages", {})
    sandbox.control(
        f"/_sandbox/graph/users/{ALEX.object_id}/messages",
        {
            "from": "news@offers.test",
            "subject": "Deals",
            "headers": {"List-Unsubscribe": "<mailto:x@offers.test>"},
            "label": {"outcome": "skip", "reason": "automated"},
        },
    )
    sandbox.control(f"/_sandbox/graph/users/{ALEX.object_id}/events/{event_id}/move", {"hours": 3})
    enqueue_session(user.id, "now")
    run_jobs()
    last = _sessions(db, user)[-1]
    assert last.status == "succeeded", last.error
    assert last.saved == 2  # the new customer email and the moved meeting
    assert_crm_matches(db, user.org_id, expected_from(labels_of(sandbox, ALEX)))

    sandbox.control(f"/_sandbox/graph/users/{ALEX.object_id}/events/{event_id}/cancel")
    enqueue_session(user.id, "now")
    run_jobs()
    assert_crm_matches(db, user.org_id, expected_from(labels_of(sandbox, ALEX)))


def _event_ids(sandbox, person):
    """(event id, label) pairs, read from the sandbox's state (the test's own knowledge)."""
    from server.sandbox.calendar_series import label_key
    from server.sandbox.graph_state import state

    with sandbox.app.app_context():
        box = state().mailbox(person)
        return [
            (eid, box.event_labels[label_key(event)])
            for eid, (_, event) in box.events.items()
            if "@removed" not in event and label_key(event)
        ]


def test_a_meeting_of_two_users_is_one_crm_meeting(app, client, sandbox, db, run_jobs):
    configure_mailboxes(sandbox, messages=60, events=8)
    alex = signed_in_user(client, sandbox, db, ALEX)
    client.get("/auth/signout")
    bianca = signed_in_user(client, sandbox, db, BIANCA)
    enqueue_session(alex.id)
    enqueue_session(bianca.id)
    run_jobs()
    expected = expected_from(labels_of(sandbox, ALEX), labels_of(sandbox, BIANCA))
    shared = [uid for uid, label in expected.meetings.items() if label["kind"] == "shared"]
    assert shared
    assert_crm_matches(db, alex.org_id, expected)


def test_the_tick_enqueues_due_sessions_only(app, client, sandbox, db, run_jobs):
    configure_mailboxes(sandbox, messages=30, events=4)
    user = signed_in_user(client, sandbox, db, ALEX)
    assert schedule_tick() == [user.id]
    assert schedule_tick() == []  # already queued
    run_jobs()
    assert schedule_tick() == []  # ran just now: not due for SYNC_INTERVAL_MINUTES
    user.sync_enabled = False
    db.commit()
    assert health_for(user)["state"] == "disabled"


def test_a_revoked_grant_stops_the_schedule_and_health_says_needs_reauth(
    app, client, sandbox, db, run_jobs
):
    configure_mailboxes(sandbox, messages=30, events=4)
    sandbox.control("/_sandbox/identity/settings", {"access_token_lifetime": 60})
    user = signed_in_user(client, sandbox, db, ALEX)
    enqueue_session(user.id)
    run_jobs()
    # The cached access token is still valid for a minute: expire it, then revoke the grant.
    sandbox.control("/_sandbox/identity/expire-access-tokens")
    sandbox.control(
        "/_sandbox/identity/revoke-grant",
        {"tenant_id": ALEX.tenant_id, "object_id": ALEX.object_id},
    )
    enqueue_session(user.id, "now")
    run_jobs()
    last = _sessions(db, user)[-1]
    assert last.status == "needs_reauth", last.error
    assert health_for(user)["state"] == "needs_reauth"
    assert schedule_tick() == []  # the schedule stops until the user signs in again


def test_the_admin_sees_every_users_health(app, client, sandbox, db, run_jobs):
    from tests.integration.signin_helpers import sign_in_for_token

    configure_mailboxes(sandbox, messages=30, events=4)
    user = signed_in_user(client, sandbox, db, ALEX)
    enqueue_session(user.id)
    run_jobs()
    token = sign_in_for_token(client, sandbox, ALEX)  # Alex is a directory admin
    answer = client.get("/admin/api/sync/health", headers={"Authorization": f"Bearer {token}"})
    assert answer.status_code == 200, answer.json
    rows = {row["email"]: row for row in answer.json["users"]}
    assert rows[ALEX.email]["state"] == "up_to_date"
    assert rows[ALEX.email]["last_session"]["saved"] > 0
    # Paged: a page of one, then the next; a bad page is a clear 400.
    auth = {"Authorization": f"Bearer {token}"}
    first = client.get("/admin/api/sync/health?per_page=1", headers=auth).json
    assert len(first["users"]) == 1 and first["page"] == 1
    assert first["next_page"] == (2 if len(rows) > 1 else None)
    bad = client.get("/admin/api/sync/health?per_page=0", headers=auth)
    assert bad.status_code == 400 and bad.json["error"] == "bad_page"


def test_auto_create_only_for_addresses_the_user_wrote_to(app, client, sandbox, db, run_jobs):
    from server.policy import update_org_policy

    configure_mailboxes(sandbox, messages=40, events=2)
    user = signed_in_user(client, sandbox, db, ALEX)
    update_org_policy(user.org_id, {"auto_create": True}, user)
    new = "dana.buyer@fresh-prospect.test"
    sandbox.control(
        f"/_sandbox/graph/users/{ALEX.object_id}/messages",
        {
            "from": ALEX.email,
            "to": [new],
            "folder": "sentitems",
            "subject": "Intro",
            "label": {"outcome": "save", "people": [new], "accounts": []},
        },
    )
    sandbox.control(
        f"/_sandbox/graph/users/{ALEX.object_id}/messages",
        {
            "from": "stranger@cold-outreach.test",
            "subject": "Buy our stuff",
            "label": {"outcome": "skip", "reason": "never written to"},
        },
    )
    enqueue_session(user.id)
    run_jobs()
    last = _sessions(db, user)[-1]
    assert last.status == "succeeded", last.error
    assert last.created == 1
    assert_crm_matches(db, user.org_id, expected_from(labels_of(sandbox, ALEX)))


def test_the_pane_can_sync_now_and_read_its_health(app, client, sandbox, db, run_jobs):
    from tests.integration.signin_helpers import sign_in_for_token

    configure_mailboxes(sandbox, messages=20, events=2)
    signed_in_user(client, sandbox, db, ALEX)
    headers = {"Authorization": f"Bearer {sign_in_for_token(client, sandbox, ALEX)}"}
    answer = client.post("/api/sync/now", headers=headers)
    assert answer.status_code == 202 and answer.json["enqueued"] is True
    assert client.post("/api/sync/now", headers=headers).json["enqueued"] is False
    run_jobs()
    health = client.get("/api/sync/health", headers=headers).json
    assert health["state"] == "up_to_date"
    assert health["last_session"]["trigger"] == "now"


def test_read_marks_arrive_as_partial_entries_and_change_nothing(
    app, client, sandbox, db, run_jobs
):
    """After a read-state toggle Graph's delta may carry only id, isRead and parentFolderId;
    those entries are neither new messages nor skips with a made-up reason."""
    configure_mailboxes(sandbox, messages=120, events=4)
    user = signed_in_user(client, sandbox, db, ALEX)
    enqueue_session(user.id)
    run_jobs()
    labels = labels_of(sandbox, ALEX)
    read = [lb["id"] for lb in labels["messages"].values() if lb["folder"] == "inbox"][:5]
    read += [lb["id"] for lb in labels["messages"].values() if lb["folder"] == "sentitems"][:2]
    for message_id in read:
        sandbox.control(f"/_sandbox/graph/users/{ALEX.object_id}/messages/{message_id}/read")
    enqueue_session(user.id, "now")
    run_jobs()
    last = _sessions(db, user)[-1]
    assert last.status == "succeeded", last.error
    assert last.saved == 0 and last.crm_calls == 0
    assert last.counts == {"updated_only": len(read)}
    assert_crm_matches(db, user.org_id, expected_from(labels_of(sandbox, ALEX)))


def test_an_event_changed_outside_the_window_comes_as_a_removal(app, client, sandbox, db, run_jobs):
    """calendarView delta reports an event changed outside its range as `@removed`: the
    meeting moved far away, then moved again out there, is looked up and kept current."""
    configure_mailboxes(sandbox, messages=20, events=12)
    user = signed_in_user(client, sandbox, db, ALEX)
    enqueue_session(user.id)
    run_jobs()
    labels = labels_of(sandbox, ALEX)
    meeting = next(
        e for e in labels["events"].values() if e["outcome"] == "save" and e["kind"] == "external"
    )
    event_id = next(eid for eid in _event_ids(sandbox, ALEX) if eid[1] == meeting)[0]
    move = f"/_sandbox/graph/users/{ALEX.object_id}/events/{event_id}/move"
    sandbox.control(move, {"hours": 24 * 200})  # out of the window (90 days ahead)
    enqueue_session(user.id, "now")
    run_jobs()
    sandbox.control(move, {"hours": 5})  # changed again, never back in the window
    enqueue_session(user.id, "now")
    run_jobs()
    last = _sessions(db, user)[-1]
    assert last.status == "succeeded", last.error
    assert last.counts.get("removed_but_moved") == 1
    assert_crm_matches(db, user.org_id, expected_from(labels_of(sandbox, ALEX)))


def test_a_first_sync_of_an_inbox_over_5000_messages_misses_none(
    app, client, sandbox, db, run_jobs
):
    """Message delta with $filter returns at most 5,000 messages, silently: an inbox with
    more in the window must still reach the CRM whole (and nothing older than the window)."""
    configure_mailboxes(sandbox, messages=9000, events=1, seed=11)
    app.config["GRAPH_PAGE_SIZE"] = 1000
    user = signed_in_user(client, sandbox, db, ALEX)
    labels = labels_of(sandbox, ALEX)
    in_window = [
        lb
        for lb in labels["messages"].values()
        if lb["folder"] == "inbox" and lb["category"] != "old"
    ]
    assert len(in_window) > 5000
    enqueue_session(user.id)
    run_jobs()
    first = _sessions(db, user)[-1]
    assert first.status == "succeeded", first.error
    assert_crm_matches(db, user.org_id, expected_from(labels))
    assert first.counts["older_than_window"] > 0  # read whole, the window applied by Courier


def test_html_bodies_reach_the_crm_as_text(app, client, sandbox, db, run_jobs):
    """Delta does not document `Prefer: outlook.body-content-type`: the sandbox sends HTML
    bodies whatever was asked, and the CRM still gets the text, never the markup."""
    from server.crm.builtin.models import CrmActivity

    configure_mailboxes(sandbox, messages=60, events=2)
    user = signed_in_user(client, sandbox, db, ALEX)
    sandbox.control(
        f"/_sandbox/graph/users/{ALEX.object_id}/messages",
        {"subject": "Markup", "body": "Price: <b>10</b> & up\n\n<script>alert(1)</script>"},
    )
    enqueue_session(user.id)
    run_jobs()
    assert _sessions(db, user)[-1].status == "succeeded"
    emails = db.scalars(select(CrmActivity).where(CrmActivity.kind == "email")).all()
    generated = [a for a in emails if a.subject != "Markup"]
    assert generated and all("<" not in a.body_text for a in generated)
    assert all(a.body_text.startswith("Hello,\n\nFollowing up on ") for a in generated)
    added = next(a for a in emails if a.subject == "Markup")
    # The sender's own text, characters and all; Outlook's HTML around it is gone.
    assert added.body_text == "Price: <b>10</b> & up\n\n<script>alert(1)</script>"
