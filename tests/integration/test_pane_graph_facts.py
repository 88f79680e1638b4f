"""A recently sent item opened in the pane: Office.js may not have its internetMessageId yet,
and has no sent date in read mode (docs-ref outlook/office.messageread.yml). The API reads both
from Graph with the item's REST id, so the pane keys the email as the sync does (no duplicate
ledger row or CRM activity) and dates it when it was sent."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import select

from server.auth.sessions import issue_session
from server.mail.graph_parse import parse_datetime
from server.models.ledger import LedgerEntry
from server.sandbox.directory import DEMO_USERS
from server.sync.jobs import enqueue_session
from tests.integration.sync_helpers import FAST_RETRIES, configure_mailboxes, signed_in_user

ALEX = DEMO_USERS[0]
CUSTOMER = "pane-graph-facts@unknown-prospect.test"


@pytest.fixture
def app_config(sandbox):
    return {**sandbox.settings(), **FAST_RETRIES}


def _sent(sandbox, subject: str) -> dict:
    """A message Alex just sent, in the sandbox mailbox: (Graph id, internetMessageId, sent)."""
    added = sandbox.control(
        f"/_sandbox/graph/users/{ALEX.object_id}/messages",
        {"folder": "sentitems", "from": ALEX.email, "to": [CUSTOMER], "subject": subject},
    )
    return added


def _pane_item(added: dict, subject: str, created: datetime) -> dict:
    """What the pane sends for it: no internetMessageId (withheld), dateTimeCreated only."""
    return {
        "subject": subject,
        "from": {"address": ALEX.email, "name": ALEX.display_name},
        "to": [{"address": CUSTOMER, "name": ""}],
        "created": created.isoformat(),
        "internet_message_id": None,
        "item_id": added["id"],
        "body": "Our proposal.",
    }


def test_a_withheld_message_id_is_read_from_graph(app, client, sandbox, db, redis_client):
    configure_mailboxes(sandbox, messages=8, events=0)
    user = signed_in_user(client, sandbox, db, ALEX)
    headers = {"Authorization": f"Bearer {issue_session(user)}"}
    subject = "Proposal for the pilot"
    added = _sent(sandbox, subject)
    created = datetime.now(UTC) - timedelta(minutes=7)  # the draft was started earlier
    item = _pane_item(added, subject, created)

    answer = client.post("/api/suggestions", json={"item": item}, headers=headers)
    assert answer.status_code == 200, answer.get_json()
    assert answer.get_json()["item"]["key"] == added["internetMessageId"]

    contact = client.post(
        "/api/contacts", json={"name": "Pat Pilot", "email": CUSTOMER}, headers=headers
    )
    assert contact.status_code == 201, contact.get_json()
    link = contact.get_json()["ref"]
    saved = client.post("/api/saves", json={"item": item, "links": [link]}, headers=headers)
    assert saved.status_code == 201, saved.get_json()
    assert saved.get_json()["key"] == added["internetMessageId"]
    entry = db.scalar(select(LedgerEntry).where(LedgerEntry.subject == subject))
    sent_at = _graph_sent_at(sandbox, added["id"])
    assert entry.item_at.replace(tzinfo=None) == sent_at.replace(tzinfo=None)
    assert abs((entry.item_at.replace(tzinfo=UTC) - created).total_seconds()) > 60

    enqueue_session(user.id, "test")  # the sync reads the same sent item: no second row
    from rq import SimpleWorker

    from server.queues import all_queues, get_redis

    SimpleWorker(all_queues(), connection=get_redis()).work(burst=True)
    db.expire_all()
    rows = db.scalars(select(LedgerEntry).where(LedgerEntry.subject == subject)).all()
    assert [r.item_key for r in rows] == [added["internetMessageId"]]


def test_without_graph_the_pane_item_keeps_its_fingerprint(app, client, sandbox, db):
    configure_mailboxes(sandbox, messages=8, events=0)
    user = signed_in_user(client, sandbox, db, ALEX)
    headers = {"Authorization": f"Bearer {issue_session(user)}"}
    item = _pane_item({"id": "AAMk-not-in-this-mailbox"}, "Unknown", datetime.now(UTC))
    answer = client.post("/api/suggestions", json={"item": item}, headers=headers)
    assert answer.status_code == 200
    assert answer.get_json()["item"]["key"].startswith("fp:")  # Graph said 404: as before


def _graph_sent_at(sandbox, message_id: str) -> datetime:
    from server.sandbox.graph_state import state

    with sandbox.app.app_context():
        box = next(b for b in state().mailboxes.values() if b.user.object_id == ALEX.object_id)
        message = next(m for _, m, _ in box.added if m["id"] == message_id)
    sent = parse_datetime(message["sentDateTime"])
    assert sent is not None
    return sent


def test_recipients_cut_at_the_office_limit_are_read_from_graph(app, client, sandbox, db):
    """Outlook on the web gives the add-in at most 20 of To: with 20 in hand, the API reads the
    whole list from Graph, so the 26th recipient (a known customer) is suggested too."""
    from server.sandbox.mailbox import linkable_contacts

    configure_mailboxes(sandbox, messages=0, events=0)
    user = signed_in_user(client, sandbox, db, ALEX)
    headers = {"Authorization": f"Bearer {issue_session(user)}"}
    crowd = [f"guest{n}@big-webinar.test" for n in range(25)]
    customer = linkable_contacts()[0].emails[0]
    added = sandbox.control(
        f"/_sandbox/graph/users/{ALEX.object_id}/messages",
        {"from": crowd[0], "to": [ALEX.email, *crowd[1:], customer], "subject": "All hands"},
    )
    shown = [ALEX.email, *crowd[1:]][:20]  # what Office.js hands the pane
    item = {
        "subject": "All hands",
        "from": {"address": crowd[0], "name": ""},
        "to": [{"address": a, "name": ""} for a in shown],
        "internet_message_id": added["internetMessageId"],
        "item_id": added["id"],
    }
    answer = client.post("/api/suggestions", json={"item": item}, headers=headers)
    assert answer.status_code == 200, answer.get_json()
    people = {p["address"]: p for p in answer.get_json()["participants"]}
    assert len(people) == 26  # the sender and every recipient but Alex herself
    assert people[customer]["class"] == "matched"

    # Under the limit, the pane's own list is complete: no Graph read for recipients.
    item["to"] = item["to"][:5]
    answer = client.post("/api/suggestions", json={"item": item}, headers=headers)
    assert len(answer.get_json()["participants"]) == 5
