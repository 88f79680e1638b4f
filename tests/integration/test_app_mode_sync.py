"""Application mode against the sandbox over HTTPS: the worker reads in-scope mailboxes with
an app-only token (client credentials), nobody signs in, and the CRM ends up exactly as the
delegated sync would have left it. A mailbox the tenant keeps out of the application's scope,
and a missing or revoked application grant, show in health without a retry storm."""

from __future__ import annotations

from datetime import timedelta

import pytest
from sqlalchemy import func, select

from server.auth.app_tokens import AppGrantMissing, app_grant_status, app_graph_token
from server.db import utcnow
from server.models.connections import MicrosoftConnection
from server.models.sync import SyncSession
from server.models.tenancy import Organisation
from server.sandbox.directory import DEMO_USERS
from server.sync.health import health_for
from server.sync.jobs import enqueue_session
from server.sync.scheduler import due_user_ids, schedule_tick
from tests.integration.admin_helpers import web_sign_in
from tests.integration.app_mode_helpers import app_mode_users
from tests.integration.sync_helpers import (
    FAST_RETRIES,
    assert_crm_matches,
    configure_mailboxes,
    expected_from,
    labels_of,
)

ALEX, BIANCA = DEMO_USERS[0], DEMO_USERS[1]


@pytest.fixture
def app_config(sandbox):
    return {**sandbox.settings(), **FAST_RETRIES}


def _sessions(db, user) -> list[SyncSession]:
    db.expire_all()
    return list(
        db.scalars(
            select(SyncSession).where(SyncSession.user_id == user.id).order_by(SyncSession.id)
        )
    )


def _graph_requests(sandbox) -> int:
    return sum(sandbox.control("/_sandbox/graph/stats", method="GET")["by_kind"].values())


def test_application_mode_syncs_users_who_never_signed_in_exactly_the_labelled_set(
    app, sandbox, db, run_jobs
):
    configure_mailboxes(sandbox, messages=300, events=24)
    alex, bianca = app_mode_users(db, sandbox, [ALEX, BIANCA])
    assert db.scalar(select(func.count()).select_from(MicrosoftConnection)) == 0
    assert health_for(alex)["state"] == "not_started"

    assert set(schedule_tick()) == {alex.id, bianca.id}  # due at once, without a sign-in
    run_jobs()
    for user in (alex, bianca):
        last = _sessions(db, user)[-1]
        assert last.status == "succeeded", last.error
        assert health_for(user)["state"] == "up_to_date"
    # Both mailboxes' labels: the same set a delegated sync of each user saves.
    expected = expected_from(labels_of(sandbox, ALEX), labels_of(sandbox, BIANCA))
    assert_crm_matches(db, alex.org_id, expected)
    counts = sandbox.control("/_sandbox/identity/app-state", method="GET")["counts"]
    assert counts == {"granted": 1}  # one app-only token for the tenant, cached for both
    assert db.scalar(select(func.count()).select_from(MicrosoftConnection)) == 0


def test_a_signed_out_user_outside_the_scope_is_not_read(app, sandbox, db, run_jobs):
    configure_mailboxes(sandbox, messages=20, events=2)
    alex, bianca = app_mode_users(db, sandbox, [ALEX, BIANCA])
    bianca.app_scope = None
    db.commit()
    assert schedule_tick() == [alex.id]
    assert health_for(bianca)["state"] == "disabled"


def test_a_mailbox_outside_the_access_policy_shows_its_state_without_a_retry_storm(
    app, sandbox, db, run_jobs
):
    configure_mailboxes(sandbox, messages=40, events=4)
    (alex,) = app_mode_users(db, sandbox, [ALEX])
    # The Exchange admin limits the application to Bianca's mailbox (Alex's is in our scope).
    sandbox.control(
        "/_sandbox/graph/access-policy",
        {"tenant_id": ALEX.tenant_id, "allowed": [BIANCA.object_id]},
    )
    sandbox.control("/_sandbox/graph/stats/reset")
    start = utcnow()
    assert schedule_tick() == [alex.id]
    run_jobs()
    refused = _sessions(db, alex)[-1]
    assert refused.status == "refused", refused.error
    assert "Access to OData is disabled" in refused.error
    health = health_for(alex)
    assert health["state"] == "not_in_app_scope"
    assert "OData" in health["last_error"]
    first_cost = _graph_requests(sandbox)
    assert first_cost == refused.graph_requests and 1 <= first_cost <= 4, first_cost

    # A tick every half interval for most of the safety poll's hour, each running what is
    # due: the refused mailbox costs no Graph call at all.
    sandbox.control("/_sandbox/graph/stats/reset")
    interval = timedelta(minutes=app.config["SYNC_INTERVAL_MINUTES"])
    safety = timedelta(minutes=app.config["SYNC_SAFETY_POLL_MINUTES"])
    ticks, moment = 0, start
    while moment < start + safety * 0.45:
        moment += interval / 2
        ticks += 1
        for user_id in due_user_ids(moment):
            enqueue_session(user_id)
        run_jobs()
    assert ticks >= 5
    assert _graph_requests(sandbox) == 0
    assert len(_sessions(db, alex)) == 1
    # At its safety poll it is tried once more: one session, the same small cost.
    later = start + safety * 1.6
    assert due_user_ids(later) == [alex.id]
    enqueue_session(alex.id)
    run_jobs()
    assert _sessions(db, alex)[-1].status == "refused"
    assert _graph_requests(sandbox) == first_cost
    assert due_user_ids(later + interval / 2) == []


def test_rbac_for_applications_needs_no_entra_mail_role(app, sandbox, db, run_jobs):
    """RBAC for Applications grants mailboxes on Exchange's side, not in the token's roles:
    with MS_APP_EXCHANGE_RBAC the token is used, and Graph decides per mailbox."""
    configure_mailboxes(sandbox, messages=30, events=3)
    alex, bianca = app_mode_users(db, sandbox, [ALEX, BIANCA], consent=False)
    sandbox.control(
        "/_sandbox/identity/app-grant", {"tenant_id": ALEX.tenant_id, "roles": ["User.Read.All"]}
    )
    sandbox.control(
        "/_sandbox/graph/access-policy",
        {"tenant_id": ALEX.tenant_id, "allowed": [BIANCA.object_id], "rbac": True},
    )
    org = db.get(Organisation, alex.org_id)
    with pytest.raises(AppGrantMissing):  # without the setting: no Mail.Read role, no sync
        app_graph_token(org)
    app.config["MS_APP_EXCHANGE_RBAC"] = True
    assert app_grant_status(org, check=True)["state"] == "granted"
    assert set(schedule_tick()) == {alex.id, bianca.id}
    run_jobs()
    assert _sessions(db, bianca)[-1].status == "succeeded"
    assert _sessions(db, alex)[-1].status == "refused"
    assert health_for(alex)["state"] == "not_in_app_scope"
    assert_crm_matches(db, bianca.org_id, expected_from(labels_of(sandbox, BIANCA)))


def test_a_revoked_grant_shows_in_health_and_status_and_stops_the_sessions(
    app, client, sandbox, db, run_jobs
):
    configure_mailboxes(sandbox, messages=30, events=3)
    (alex,) = app_mode_users(db, sandbox, [ALEX])
    schedule_tick()
    run_jobs()
    assert _sessions(db, alex)[-1].status == "succeeded"
    org = db.get(Organisation, alex.org_id)
    assert app_grant_status(org, check=True)["state"] == "granted"

    # The tenant's admin removes the application permissions; tokens already issued expire.
    sandbox.control("/_sandbox/identity/revoke-app-grant", {"tenant_id": ALEX.tenant_id})
    sandbox.control("/_sandbox/identity/expire-access-tokens")
    sandbox.control("/_sandbox/graph/stats/reset")
    enqueue_session(alex.id, "now")
    run_jobs()
    failed = _sessions(db, alex)[-1]
    assert failed.status == "needs_reauth" and failed.error.startswith("AppGrantMissing")
    db.expire_all()
    assert health_for(alex)["state"] == "app_grant_missing"
    status = app_grant_status(db.get(Organisation, alex.org_id))
    assert status["state"] == "missing" and status["reason"] == "consent_missing"
    # Graph refused the voided token (the batched first pages, then the first round alone);
    # the new token had no roles, so Graph was not asked again.
    assert _graph_requests(sandbox) <= 2
    assert alex.id not in due_user_ids(utcnow() + timedelta(hours=3))

    # The overview says so to an admin, who signs in to the console: that sign-in changes
    # nothing for the sync (still the application's grant that is missing).
    assert web_sign_in(client, sandbox, ALEX).status_code == 302
    page = client.get("/admin/")
    assert page.status_code == 200
    assert "Application grant missing: consent_missing" in page.text
    db.expire_all()
    assert health_for(alex)["state"] == "app_grant_missing"

    # Consent again: the next check finds the grant and the mailbox is due at once.
    sandbox.control("/_sandbox/identity/app-grant", {"tenant_id": ALEX.tenant_id})
    org = db.get(Organisation, alex.org_id)
    assert app_grant_status(org, check=True)["state"] == "granted"
    db.expire_all()
    assert alex.id in due_user_ids(utcnow() + timedelta(seconds=1))
    assert health_for(alex)["state"] != "app_grant_missing"
    enqueue_session(alex.id, "now")
    run_jobs()
    assert _sessions(db, alex)[-1].status == "succeeded"
    assert health_for(alex)["state"] == "up_to_date"


def test_no_consent_at_all_is_a_clear_state(app, sandbox, db):
    (alex,) = app_mode_users(db, sandbox, [ALEX], consent=False)
    org = db.get(Organisation, alex.org_id)
    with pytest.raises(AppGrantMissing) as caught:
        app_graph_token(org)
    assert caught.value.reason == "consent_missing"
    assert "Mail.Read" in caught.value.description
    db.expire_all()
    assert app_grant_status(db.get(Organisation, alex.org_id))["state"] == "missing"
    assert health_for(alex)["state"] == "app_grant_missing"
