"""The users table's SQL health (sync/health_sql over sync/summary) agrees with the pane's
health (sync/health.classify) state by state, with the Overview's counts and with the
state filter — with the built-in CRM, with Salesforce, and with live subscriptions."""

from __future__ import annotations

from datetime import timedelta

import pytest
from sqlalchemy import select

from server.admin.people import STATE_ORDER, STATES, PeopleFilter, list_people, state_counts
from server.admin.tables import TableParams
from server.db import utcnow
from server.models.connections import MicrosoftConnection
from server.models.crm_connections import SalesforceConnection
from server.models.sync import GraphSubscription, SyncSession, SyncState
from server.models.sync_summary import UserSyncSummary
from server.models.tenancy import Organisation, User
from server.sync.health import health_for_users
from server.sync.liveness import abandon, finish
from server.sync.summary import record_session_change, refresh_summaries
from tests.integration.salesforce_harness import salesforce_settings

MODES = ("builtin", "salesforce", "webhooks")


@pytest.fixture
def mode():
    """The built-in CRM, for the tests that do not depend on the CRM; the tests that do
    are parametrized over MODES (a parametrized argument overrides this fixture, and
    app_config below receives its value)."""
    return "builtin"


every_mode = pytest.mark.parametrize("mode", MODES)


@pytest.fixture
def app_config(mode, sandbox):
    if mode == "salesforce":
        return {**salesforce_settings(sandbox), "CRM_ADAPTER": "salesforce"}
    if mode == "webhooks":
        return {**sandbox.settings(), "SYNC_WEBHOOKS_ENABLED": True}
    return sandbox.settings()


def _session(user, status, ago, *, initial=False, error="", finished=True):
    started = utcnow() - ago
    return SyncSession(
        org_id=user.org_id,
        user_id=user.id,
        status=status,
        initial=initial,
        started_at=started,
        heartbeat_at=started,
        finished_at=started + timedelta(seconds=30) if finished and status != "running" else None,
        items_read=7,
        estimate=20,
        error=error,
    )


M = timedelta(minutes=1)
# name: (sync on, connection, connection needs re-auth, initial reads done, sessions newest
# first as (status, minutes ago, error), salesforce connected, salesforce needs re-auth,
# watched by live subscriptions)
SCENARIOS = {
    "off": (False, True, False, True, [("succeeded", 5, "")], True, False, False),
    "no_connection": (True, False, False, True, [], True, False, False),
    "no_sessions": (True, True, False, True, [], True, False, False),
    "ms_reauth": (True, True, True, True, [("succeeded", 5, "")], True, False, False),
    "session_reauth": (
        True,
        True,
        False,
        True,
        [("needs_reauth", 5, "NeedsReauth: consent")],
        True,
        False,
        False,
    ),
    "crm_auth_session": (
        True,
        True,
        False,
        True,
        [("needs_reauth", 5, "CRMAuthError: expired"), ("succeeded", 10, "")],
        True,
        False,
        False,
    ),
    "sf_reauth": (True, True, False, True, [("succeeded", 5, "")], True, True, False),
    "sf_missing": (True, True, False, True, [("succeeded", 5, "")], False, False, False),
    "first_read": (True, True, False, False, [("running", 3, "")], True, False, False),
    "first_failed": (
        True,
        True,
        False,
        False,
        [("failed", 3, "GraphError: x")],
        True,
        False,
        False,
    ),
    "three_failures": (
        True,
        True,
        False,
        True,
        [
            ("failed", 3, "GraphError: a"),
            ("paused", 5, ""),
            ("abandoned", 8, ""),
            ("failed", 9, ""),
        ],
        True,
        False,
        False,
    ),
    "old_start": (True, True, False, True, [("succeeded", 150, "")], True, False, False),
    "old_start_watched": (True, True, False, True, [("succeeded", 150, "")], True, False, True),
    "fresh": (
        True,
        True,
        False,
        True,
        [("running", 1, ""), ("succeeded", 4, "")],
        True,
        False,
        False,
    ),
    "late": (
        True,
        True,
        False,
        True,
        [("failed", 3, "E: y"), ("succeeded", 45, "")],
        True,
        False,
        False,
    ),
    "late_watched": (True, True, False, True, [("succeeded", 45, "")], True, False, True),
}


def _build(db, org, name, spec, n):
    enabled, connected, ms_reauth, done, sessions, sf, sf_reauth, watched = spec
    user = User(
        org_id=org.id,
        tenant_id=org.tenant_id,
        object_id=f"00000000-0000-4000-8000-{n:012d}",
        email=f"{name}@health.test",
        display_name=name,
        aliases=[],
        sync_enabled=enabled,
    )
    db.add(user)
    db.flush()
    if connected:
        db.add(
            MicrosoftConnection(
                org_id=org.id,
                user_id=user.id,
                needs_reauth=ms_reauth,
                updated_at=utcnow() - timedelta(hours=1),
            )
        )
    db.add(SyncState(org_id=org.id, user_id=user.id, folder="inbox", initial_done=done))
    for status, minutes, error in sessions:
        db.add(_session(user, status, minutes * M, error=error))
    if sf:
        db.add(
            SalesforceConnection(
                org_id=org.id,
                user_id=user.id,
                sf_org_id="00D000000000001",
                sf_user_id=f"005{n:012d}",
                instance_url="https://sf.example",
                needs_reauth=sf_reauth,
            )
        )
    if watched:
        for resource in ("me/mailFolders('inbox')/messages", "me/events", "x", "y"):
            db.add(
                GraphSubscription(
                    org_id=org.id,
                    user_id=user.id,
                    resource=resource,
                    subscription_id=f"{n}-{resource}",
                    client_state="s",
                    expires_at=utcnow() + timedelta(days=1),
                    renew_at=utcnow() + timedelta(hours=12),
                )
            )
    return user


def _every_scenario(db, tenant_id: str, name: str):
    """An organisation with one user per scenario, their summaries kept as sessions do."""
    org = Organisation(tenant_id=tenant_id, name=name)
    db.add(org)
    db.flush()
    users = {n: _build(db, org, n, spec, i) for i, (n, spec) in enumerate(SCENARIOS.items())}
    db.commit()
    refresh_summaries([u.id for u in users.values()])
    db.commit()
    return org, users


@every_mode
def test_sql_state_agrees_with_pane_health_counts_and_filter(app, db, mode):
    org, users = _every_scenario(db, "aaaaaaaa-0000-4000-8000-000000000001", "health.test")
    pane = health_for_users(list(users.values()))
    rows, total = list_people(org, PeopleFilter(), TableParams("name", False, 1, 200))
    assert total == len(SCENARIOS)
    table = {r.user.id: r for r in rows}
    for name, user in users.items():
        row, expected = table[user.id], pane[user.id]
        assert row.state == expected["state"], name
        assert (row.last_success_at.isoformat() if row.last_success_at else None) == expected[
            "last_success_at"
        ], name
        assert row.last_error == expected["last_error"], name
        if expected.get("progress"):
            assert row.progress == expected["progress"], name
    seen = {pane[u.id]["state"] for u in users.values()}
    assert len(seen) >= 6, seen  # the scenarios reach most states in every mode
    counts = state_counts(org)
    for state in STATES:
        expected = sorted(u.id for u in users.values() if pane[u.id]["state"] == state)
        assert counts[state] == len(expected), state
        found, found_total = list_people(
            org, PeopleFilter(state=state), TableParams("state", False, 1, 200)
        )
        assert sorted(r.user.id for r in found) == expected and found_total == len(expected)


def test_sort_by_state_last_success_and_saved(app, db):
    org, users = _every_scenario(db, "aaaaaaaa-0000-4000-8000-000000000002", "sort.test")
    pane = health_for_users(list(users.values()))

    def order(sort, desc=False):
        rows, _ = list_people(org, PeopleFilter(), TableParams(sort, desc, 1, 200))
        return rows

    states = [r.state for r in order("state")]
    assert states == sorted(states, key=STATE_ORDER.index)
    assert STATE_ORDER[:2] == ("needs_reauth", "stalled")  # who needs action comes first
    successes = [r.last_success_at for r in order("last_success", True) if r.last_success_at]
    assert successes == sorted(successes, reverse=True) and successes
    assert {r.user.id for r in order("last_success", True)[: len(successes)]} == {
        u.id for u in users.values() if pane[u.id]["last_success_at"]
    }
    from server.models.ledger import LedgerEntry

    for i, name in enumerate(("late", "fresh", "off")):
        for k in range(i + 1):
            db.add(
                LedgerEntry(
                    org_id=org.id,
                    item_key=f"<{name}{k}@x>",
                    kind="email",
                    crm_target="builtin",
                    user_id=users[name].id,
                    status="saved",
                )
            )
    db.commit()
    top = order("saved", True)[:3]
    assert [r.email.split("@")[0] for r in top] == ["off", "fresh", "late"]
    assert [r.saved_7d for r in top] == [3, 2, 1]


def test_session_outcomes_keep_the_summary(app, db):
    org = Organisation(tenant_id="aaaaaaaa-0000-4000-8000-000000000003", name="keep.test")
    db.add(org)
    db.flush()
    user = _build(db, org, "kept", SCENARIOS["no_sessions"], 1)
    db.commit()
    record = _session(user, "running", 0 * M, finished=False)
    db.add(record)
    db.commit()
    record_session_change(user.id)  # what run_session does once the row is in
    summary = db.get(UserSyncSummary, user.id)
    assert summary.last_session_id == record.id and summary.last_success_at is None
    assert finish(db, record.id, "succeeded")
    db.expire_all()
    summary = db.get(UserSyncSummary, user.id)
    assert summary.last_success_at is not None and summary.failures == 0
    second = _session(user, "running", 0 * M, finished=False)
    db.add(second)
    db.commit()
    record_session_change(user.id)
    assert abandon(db, second.id, stale_before=None)
    db.expire_all()
    summary = db.get(UserSyncSummary, user.id)
    assert summary.failures == 1 and summary.last_session_id == second.id
    assert summary.last_error == "the worker running this session stopped"
    assert db.scalar(select(UserSyncSummary.org_id).where(UserSyncSummary.user_id == user.id))


# Application mode (issue 15): name -> (app_scope, spec as above). Nobody here signed in.
APP_SCENARIOS = {
    "removed": ("removed", (True, False, False, True, [("succeeded", 5, "")], True, False, False)),
    "never_chosen": (None, (True, False, False, True, [], True, False, False)),
    "chosen_off": ("in", (False, False, False, True, [("succeeded", 5, "")], True, False, False)),
    "refused": (
        "in",
        (True, False, False, True, [("refused", 5, "ErrorAccessDenied: x")], True, False, False),
    ),
    "retrying_refused": (
        "in",
        (
            True,
            False,
            False,
            True,
            [("running", 1, ""), ("refused", 60, "ErrorAccessDenied: y")],
            True,
            False,
            False,
        ),
    ),
    "in_no_sessions": ("in", (True, False, False, True, [], True, False, False)),
    "in_first_read": ("in", (True, False, False, False, [("running", 2, "")], True, False, False)),
    "in_fresh": ("in", (True, False, False, True, [("succeeded", 5, "")], True, False, False)),
    "in_sf_reauth": ("in", (True, False, False, True, [("succeeded", 5, "")], True, True, False)),
    "in_late": (
        "in",
        (
            True,
            False,
            False,
            True,
            [("failed", 3, "GraphError: z"), ("succeeded", 45, "")],
            True,
            False,
            False,
        ),
    ),
}


@pytest.mark.parametrize("grant_error", ["", "consent_missing: the tenant revoked the grant"])
@every_mode
def test_sql_state_agrees_in_application_mode(app, db, mode, grant_error):
    """Application mode's states (sync/health_app) come out of the SQL expression exactly as
    the pane's health computes them, with and without a usable application grant."""
    tenant = "aaaaaaaa-0000-4000-8000-00000000001" + ("1" if grant_error else "0")
    org = Organisation(tenant_id=tenant, name="app.test", sync_mode="application")
    org.app_grant_error = grant_error
    db.add(org)
    db.flush()
    users = {}
    for i, (name, (scope, spec)) in enumerate(APP_SCENARIOS.items()):
        users[name] = _build(db, org, name, spec, 100 + i)
        users[name].app_scope = scope
    db.commit()
    refresh_summaries([u.id for u in users.values()])
    db.commit()
    pane = health_for_users(list(users.values()))
    rows, total = list_people(org, PeopleFilter(), TableParams("state", False, 1, 200))
    assert total == len(APP_SCENARIOS)
    table = {r.user.id: r for r in rows}
    for name, user in users.items():
        assert table[user.id].state == pane[user.id]["state"], name
        assert table[user.id].last_error == pane[user.id]["last_error"], name
    states = {name: pane[u.id]["state"] for name, u in users.items()}
    assert states["removed"] == "removed_from_scope"
    assert states["never_chosen"] == "disabled"
    if grant_error:
        assert states["in_fresh"] == states["refused"] == "app_grant_missing"
    else:
        assert states["refused"] == states["retrying_refused"] == "not_in_app_scope"
        assert states["in_fresh"] == "up_to_date" and states["in_no_sessions"] == "not_started"
        if mode == "salesforce":
            assert states["in_sf_reauth"] == "needs_reauth"
    counts = state_counts(org)
    for state in STATES:
        expected = sorted(u.id for u in users.values() if pane[u.id]["state"] == state)
        assert counts[state] == len(expected), state
        found, _ = list_people(org, PeopleFilter(state=state), TableParams("name", False, 1, 200))
        assert sorted(r.user.id for r in found) == expected, state
    ordered = [r.state for r in rows]
    assert ordered == sorted(ordered, key=STATE_ORDER.index)
