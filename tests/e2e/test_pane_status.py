"""The status line (issue 12): the first sync's progress, the last successful sync's time, a
"Sync now" button that queues a sync, and a warning when the signed-in account is not the
mailbox's owner. Both CRM adapters (conftest.py); screenshots in artifacts/."""

from __future__ import annotations

import json
from datetime import timedelta

import pytest
from sqlalchemy import select

from server.db import utcnow
from server.models.sync import SyncSession
from server.pane import status as pane_status
from server.sandbox.directory import DEMO_USERS

from .conftest import DEMO_EMAIL, known_contact, session_storage_key
from .test_pane import email_from, run_background_jobs, sign_in_with_dialog

pytestmark = pytest.mark.e2e


def _fresh_status(pane) -> None:
    """The status line's sync health is cached a few seconds per process: start afresh."""
    pane_status._health_cache.clear()


def test_progress_last_sync_time_and_sync_now(pane):
    sign_in_with_dialog(pane)
    user = pane.server.user()
    contact = known_contact(pane.server)

    def running(db):
        db.add(
            SyncSession(
                org_id=user.org_id,
                user_id=user.id,
                status="running",
                initial=True,
                trigger="test",
                items_read=120,
                estimate=600,
            )
        )
        db.commit()

    pane.server.run(running)
    _fresh_status(pane)
    pane.open_message(email_from(contact.email, contact.name, subject="Progress"))
    state = pane.frame.locator("#sync-state")
    assert "120 of ~600 items" in state.inner_text()
    pane.screenshot("initializing")

    def finished(db):
        row = db.scalar(select(SyncSession).where(SyncSession.user_id == user.id))
        row.status, row.finished_at = "succeeded", utcnow() - timedelta(minutes=3)
        db.commit()

    pane.server.run(finished)
    _fresh_status(pane)
    pane.open_message(email_from(contact.email, contact.name, subject="Up to date"))
    pane.frame.locator("#sync-state", has_text="last ").wait_for()
    assert "items" not in state.inner_text()

    pane.frame.locator("#sync-now").click()
    pane.frame.locator("#sync-state", has_text="Sync queued").wait_for()
    pane.screenshot("sync-now")
    run_background_jobs(pane)
    sessions = pane.server.run(
        lambda db: db.scalars(
            select(SyncSession.trigger).where(SyncSession.user_id == user.id)
        ).all()
    )
    assert len(sessions) == 2  # the one "Sync now" queued ran
    assert pane.frame.locator("#owner-warning").count() == 0
    assert not pane.errors


def test_a_warning_when_signed_in_as_someone_else_than_the_mailbox_owner(pane):
    other = DEMO_USERS[1].email
    assert other != DEMO_EMAIL
    pane.server.connect_crm(other)
    pane.server.connect_crm()  # Alex's too, to find a known contact through his CRM login
    token = pane.server.token(other)
    value = json.dumps({"token": token, "email": DEMO_EMAIL})
    # The session stored for this mailbox (Alex's) was issued to another account, as when
    # someone picks another account in the sign-in dialog.
    pane.context.add_init_script(
        f"if (location.origin === {json.dumps(pane.server.url)}) "
        f"localStorage.setItem({json.dumps(session_storage_key())}, {json.dumps(value)});"
    )
    pane.open_preview()
    contact = known_contact(pane.server)
    pane.open_message(email_from(contact.email, contact.name, subject="Whose mailbox"))
    warning = pane.frame.locator("#owner-warning")
    assert other in warning.inner_text() and DEMO_EMAIL in warning.inner_text()
    pane.screenshot("other-account")
    assert not pane.errors
