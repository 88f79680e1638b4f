"""The demo organisation auto-saves all relevant email: without any user setting, the demo
user's first sync saves exactly the sandbox's labelled set (the labels assume "auto-save all"),
and the pane's suggestions say so for a customer email. New organisations keep the default."""

from __future__ import annotations

import pytest
from sqlalchemy import select

from server.demo import demo_org, seed_demo
from server.models.policy import UserPolicy
from server.policy import effective_policy, org_settings
from server.sandbox.directory import DEMO_USERS
from server.sandbox.mailbox import LABEL_POLICY
from server.sync.jobs import enqueue_session
from tests.integration.signin_helpers import browser_sign_in
from tests.integration.sync_helpers import (
    FAST_RETRIES,
    assert_crm_matches,
    configure_mailboxes,
    expected_from,
    labels_of,
)

ALEX = DEMO_USERS[0]


@pytest.fixture
def app_config(sandbox):
    return {**sandbox.settings(), **FAST_RETRIES}


def test_the_demo_organisation_has_the_labels_policy_once(db):
    seed_demo(db)
    db.commit()
    org = demo_org(db)
    assert org_settings(org.id) == LABEL_POLICY
    # An administrator's later change stays: seeding again does not reset it.
    from server.policy import update_org_policy

    update_org_policy(org, {"auto_save": "threads"}, actor=None)
    assert seed_demo(db)["demo_policy"] == 0
    assert org_settings(org.id)["auto_save"] == "threads"


def test_the_demo_users_first_sync_saves_the_labelled_customer_email(
    app, client, sandbox, db, run_jobs
):
    configure_mailboxes(sandbox, messages=120, events=0)
    seed_demo(db)
    db.commit()
    answer = browser_sign_in(client, sandbox, ALEX)
    assert answer.status_code in (200, 302), answer.data
    from server.models.tenancy import User

    user = db.scalar(select(User).where(User.object_id == ALEX.object_id))
    assert db.scalar(select(UserPolicy).where(UserPolicy.user_id == user.id)) is None
    assert effective_policy(user).auto_save == "all"
    enqueue_session(user.id)
    run_jobs()
    expected = expected_from(labels_of(sandbox, ALEX))
    assert expected.emails, "the labelled set has customer email"
    assert_crm_matches(db, user.org_id, expected)
