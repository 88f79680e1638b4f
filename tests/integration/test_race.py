"""Exactly once under concurrency, with real worker processes: two users whose mailboxes share
1,000 emails are synced at the same moment by two RQ worker processes, into the built-in CRM
and into Salesforce with either key (an external-id field, or MessageIdentifier: look up, then
create). Every shared email ends in the CRM once, with one saved ledger row."""

from __future__ import annotations

from collections import Counter

import pytest
from sqlalchemy import select

from server.crm.salesforce.tokens import store_connection
from server.models.ledger import LedgerEntry
from tests.integration.race_scenario import (
    ALEX,
    BIANCA,
    builtin_counts,
    deliver_shared,
    outcome,
    race,
    salesforce_counts,
)
from tests.integration.salesforce_harness import salesforce_settings
from tests.integration.sync_helpers import FAST_RETRIES, configure_mailboxes, signed_in_user
from tests.integration.worker_processes import (  # noqa: F401 (an autouse fixture)
    kill_leftover_workers,
    start_worker,
    worker_env,
)

SHARED_EMAILS = 1000
TARGETS = {
    "builtin": {"CRM_ADAPTER": "builtin"},
    "salesforce-external-id": {"CRM_ADAPTER": "salesforce"},
    "salesforce-message-identifier": {
        "CRM_ADAPTER": "salesforce",
        "SALESFORCE_EMAIL_KEY_FIELD": "MessageIdentifier",
    },
}


@pytest.fixture(params=list(TARGETS))
def target(request) -> str:
    return request.param


@pytest.fixture
def app_config(sandbox, target):
    return {**salesforce_settings(sandbox), **FAST_RETRIES, **TARGETS[target]}


def _users(client, sandbox, db, target: str) -> list:
    if target != "builtin":
        sandbox.control("/_sandbox/salesforce/reset", {"seed_demo": True})
    users = []
    for person in (ALEX, BIANCA):
        user = signed_in_user(client, sandbox, db, person)
        client.get("/auth/signout")
        if target != "builtin":
            grant = sandbox.control("/_sandbox/salesforce/grants", {"username": person.email})
            store_connection(user, grant, person.email)
        users.append(user)
    return users


@pytest.mark.slow
def test_two_workers_syncing_a_shared_mailbox_save_each_email_once(
    app, client, sandbox, db, tmp_path, target
):
    configure_mailboxes(sandbox, messages=0, events=0)
    users = _users(client, sandbox, db, target)
    keys = deliver_shared(sandbox, SHARED_EMAILS, "t")
    sessions = race(db, users, start_worker, worker_env(app, tmp_path))
    assert all(status == "succeeded" for status, _ in sessions), sessions
    org_id = users[0].org_id
    in_crm = (
        builtin_counts(db, org_id, keys)
        if target == "builtin"
        else salesforce_counts(sandbox, keys)
    )
    result = outcome(db, org_id, keys, in_crm, sessions)
    assert (result.duplicates, result.lost) == (0, 0), (result.line(), _ledger(db, keys), in_crm)


def _ledger(db, keys: list[str]) -> Counter:
    rows = db.scalars(select(LedgerEntry).where(LedgerEntry.item_key.in_(keys)))
    return Counter((row.status, row.last_error[:80]) for row in rows)
