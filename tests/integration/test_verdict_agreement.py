"""One decision for "will it be saved" (issue 12): for every code of rules/autosave.sync_verdict,
the pane's standing (POST /api/suggestions, "why") predicts an email's fate — and the admin's
"Why not saved?" lookup says the same — then a real sync
session (sandbox Graph, RQ job, both CRM adapters) reads that email, and

- a "will_save" email is in the CRM exactly once afterwards (and its ledger row is saved);
- a "not_saved" email is not in the CRM, has no ledger row, and the session counted it under
  the very code the pane gave.

One email per session, so the session's counts are that email's. Either side deciding on its
own (the pipeline's old copy of the rule, a pane guessing) fails one of the cases."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import select

from server.admin.why import lookup as why_lookup
from server.auth.sessions import issue_session
from server.crm.builtin.demo_data import demo_crm
from server.models.ledger import LedgerEntry
from server.models.sync import SyncSession
from server.policy import update_user_policy
from server.rules import autosave
from server.sandbox.directory import DEMO_USERS
from server.sandbox.mailbox import linkable_contacts
from server.sync.jobs import enqueue_session
from tests.integration.race_scenario import builtin_counts, salesforce_counts
from tests.integration.salesforce_harness import salesforce_settings
from tests.integration.sync_helpers import FAST_RETRIES, configure_mailboxes, signed_in_user

ALEX = DEMO_USERS[0]


@pytest.fixture(params=["builtin", "salesforce"])
def target(request) -> str:
    return request.param


@pytest.fixture
def app_config(sandbox, target):
    return {**salesforce_settings(sandbox), **FAST_RETRIES, "CRM_ADAPTER": target}


def _alex(client, sandbox, db, target):
    from server.crm.salesforce.tokens import store_connection

    if target != "builtin":
        sandbox.control("/_sandbox/salesforce/reset", {"seed_demo": True})
    user = signed_in_user(client, sandbox, db, ALEX)
    client.get("/auth/signout")
    if target != "builtin":
        grant = sandbox.control("/_sandbox/salesforce/grants", {"username": ALEX.email})
        store_connection(user, grant, ALEX.email)
    db.commit()
    return user


def _lone_lead() -> str:
    """A lead's address no contact or other lead has: it matches that lead alone, which has
    no account (so the opportunity rule finds nowhere to put the email)."""
    crm = demo_crm()
    owners: dict[str, int] = {}
    for contact in crm.contacts:
        for address in contact.emails:
            owners[address] = owners.get(address, 0) + 1
    for lead in crm.leads:
        owners[lead.email] = owners.get(lead.email, 0) + 1
    return next(lead.email for lead in crm.leads if not lead.converted and owners[lead.email] == 1)


class Mailbox:
    def __init__(self, app, client, sandbox, db, user, target, run_jobs):
        self.app, self.client, self.sandbox, self.db = app, client, sandbox, db
        self.user, self.target, self.run_jobs = user, target, run_jobs
        self.headers = {"Authorization": f"Bearer {issue_session(user)}"}
        self.n = 0

    def deliver(self, sender: str, conversation: str, received: datetime) -> dict:
        self.n += 1
        key = f"<verdict-{self.n}@agreement.example.test>"
        self.sandbox.control(
            f"/_sandbox/graph/users/{ALEX.object_id}/messages",
            {
                "internetMessageId": key,
                "conversationId": conversation,
                "from": sender,
                "to": [ALEX.email],
                "subject": f"Agreement {self.n}",
                "receivedDateTime": received.strftime("%Y-%m-%dT%H:%M:%SZ"),
                "notify": False,
            },
        )
        return {
            "subject": f"Agreement {self.n}",
            "from": {"address": sender, "name": ""},
            "to": [{"address": ALEX.email, "name": ""}],
            "cc": [],
            "date": received.isoformat(),
            "internet_message_id": key,
            "conversation_id": conversation,
            "item_id": f"AAMk-agreement-{self.n}",
        }

    def standing(self, item: dict) -> dict:
        answer = self.client.post("/api/suggestions", json={"item": item}, headers=self.headers)
        assert answer.status_code == 200, answer.get_json()
        return answer.get_json()["why"]

    def admin_why(self, key: str):
        (finding,) = why_lookup(self.user, key)
        return finding

    def sync(self) -> SyncSession:
        enqueue_session(self.user.id, "now")
        self.run_jobs()
        self.db.expire_all()
        session = self.db.scalars(
            select(SyncSession)
            .where(SyncSession.user_id == self.user.id)
            .order_by(SyncSession.id.desc())
        ).first()
        assert session.status == "succeeded", session.error
        return session

    def in_crm(self, key: str) -> int:
        if self.target == "builtin":
            return builtin_counts(self.db, self.user.org_id, [key])[key]
        return salesforce_counts(self.sandbox, [key])[key]

    def row(self, key: str) -> LedgerEntry | None:
        self.db.expire_all()
        return self.db.scalar(select(LedgerEntry).where(LedgerEntry.item_key == key))

    def thread_rule(self, conversation: str, links: list[dict]) -> None:
        answer = self.client.put(
            "/api/threads",
            json={"conversation_id": conversation, "enabled": True, "links": links},
            headers=self.headers,
        )
        assert answer.status_code == 200, answer.get_json()
        self.run_jobs()  # the rule's own session: the conversation has nothing yet

    def check(self, sender: str, code: str, conversation: str = "", days_ago: float = 0.01):
        """Deliver one email, ask the pane, run the sync, and hold both to the same verdict."""
        received = datetime.now(UTC) - timedelta(days=days_ago)
        item = self.deliver(sender, conversation or f"AAQkAgreement{self.n + 1}", received)
        key = item["internet_message_id"]
        why = self.standing(item)
        assert why is not None and why["code"] == code, why
        # The admin's "Why not saved?" lookup gives the pane's own answer, word for word.
        admin = self.admin_why(key)
        assert admin.decision == why["kind"], (code, admin)
        assert admin.reason.startswith(why["message"]), (code, admin.reason, why)
        session = self.sync()
        assert session.items_read == 1, session.counts
        if why["kind"] == "will_save":
            assert self.in_crm(key) == 1, (code, session.counts)
            assert self.row(key).status == "saved"
            assert session.saved == 1
            assert self.admin_why(key).decision == "saved"
        else:
            assert why["kind"] == "not_saved"
            assert self.in_crm(key) == 0, (code, session.counts)
            assert self.row(key) is None
            assert session.counts == {code: 1}, (code, session.counts)
            # Asked again after the sync, the pane still says the same.
            assert self.standing(item)["code"] == code


def test_pane_standing_and_sync_reach_the_same_verdict_for_every_code(
    app, client, sandbox, db, target, run_jobs
):
    configure_mailboxes(sandbox, messages=0, events=0)
    user = _alex(client, sandbox, db, target)
    box = Mailbox(app, client, sandbox, db, user, target, run_jobs)
    contact = linkable_contacts()[0].emails[0]
    stranger = "buyer@unknown-prospect-verdict.test"
    box.sync()  # the first sync: an empty mailbox, the delta link taken with a 30-day window

    update_user_policy(
        user, {"auto_save": "all", "link_to_opportunities": True, "history_days": 30}
    )
    db.commit()
    box.check(contact, autosave.SAVE_ALL)
    box.check(stranger, autosave.NO_PERSON)
    box.check(_lone_lead(), autosave.NO_ACCOUNT)
    # A shorter window after the first read: mail older than it that the sync still reads
    # (Graph's delta link keeps the window it was made with) is not saved.
    update_user_policy(user, {"history_days": 7})
    db.commit()
    box.check(contact, autosave.OLDER_THAN_WINDOW, days_ago=10)

    update_user_policy(user, {"auto_save": "threads", "history_days": 30})
    db.commit()
    box.check(contact, autosave.MODE_THREADS)
    person = _contact_ref(box, contact)
    box.thread_rule("AAQkAgreementThread", [person])
    box.check(contact, autosave.SAVE_THREAD, conversation="AAQkAgreementThread")

    update_user_policy(user, {"auto_save": "off"})
    db.commit()
    box.check(contact, autosave.MODE_OFF)
    box.thread_rule("AAQkAgreementOff", [person])
    box.check(contact, autosave.THREAD_BUT_OFF, conversation="AAQkAgreementOff")


def _contact_ref(box: Mailbox, address: str) -> dict:
    item = box.deliver(address, "AAQkAgreementProbe", datetime.now(UTC))
    answer = box.client.post("/api/suggestions", json={"item": item}, headers=box.headers)
    found = next(p for p in answer.get_json()["participants"] if p["address"] == address)
    box.sync()  # the probe is read (not saved under "threads") so later sessions read one each
    return found["candidates"][0]["ref"]
