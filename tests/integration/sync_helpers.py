"""Shared by the sync tests: a signed-in demo user with the labels' policy, sessions run by RQ
workers, and the comparison of the CRM's final state with the sandbox's labels (which come
from the mailbox generator, not from the code under test)."""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass, field

from sqlalchemy import func, select

from server.crm.builtin.models import (
    CrmAccount,
    CrmActivity,
    CrmActivityLink,
    CrmContactEmail,
    CrmLead,
)
from server.demo import seed_demo
from server.models.ledger import LedgerEntry
from server.models.tenancy import User
from server.policy import update_user_policy
from server.sandbox.directory import DirectoryUser
from server.sandbox.mailbox import LABEL_POLICY
from tests.integration.signin_helpers import browser_sign_in

FAST_RETRIES = {"GRAPH_BACKOFF_BASE_MS": 5, "GRAPH_MAX_RETRIES": 12}


def configure_mailboxes(sandbox, messages: int, events: int, seed: int = 11) -> None:
    sandbox.control(
        "/_sandbox/graph/configure", {"messages": messages, "events": events, "seed": seed}
    )


def signed_in_user(client, sandbox, db, person: DirectoryUser) -> User:
    """The demo CRM seeded, `person` signed in through the sandbox, the labels' policy set."""
    seed_demo(db)
    db.commit()
    answer = browser_sign_in(client, sandbox, person)
    assert answer.status_code in (200, 302), answer.data
    user = db.scalar(select(User).where(User.object_id == person.object_id))
    update_user_policy(user, {k: v for k, v in LABEL_POLICY.items() if k != "auto_create"})
    return user


def labels_of(sandbox, person: DirectoryUser) -> dict:
    answer = sandbox.http.get(
        f"{sandbox.url}/_sandbox/graph/labels", params={"user": person.email}, timeout=60
    )
    answer.raise_for_status()
    return answer.json()


@dataclass
class Expected:
    emails: dict[str, dict] = field(default_factory=dict)  # internetMessageId -> label
    meetings: dict[str, dict] = field(default_factory=dict)  # iCalUId -> label
    skipped_keys: set[str] = field(default_factory=set)


def expected_from(*label_sets: dict) -> Expected:
    out = Expected()
    for labels in label_sets:
        for label in labels["messages"].values():
            key = label.get("internet_message_id")
            if label["outcome"] == "save":
                out.emails[key] = label
            elif key:
                out.skipped_keys.add(key)
        for uid, label in labels["events"].items():
            if label["outcome"] == "save":
                out.meetings[uid] = label
            else:
                out.skipped_keys.add(uid)
    return out


def crm_state(db, org_id: int) -> dict[str, dict]:
    """key -> {kind, cancelled, start, subject, people (addresses of linked contacts/leads),
    accounts (names), links (number of distinct linked records)}."""
    activities = {
        a.id: a for a in db.scalars(select(CrmActivity).where(CrmActivity.org_id == org_id))
    }
    emails_of: dict[int, set[str]] = defaultdict(set)
    for contact_id, email in db.execute(
        select(CrmContactEmail.contact_id, CrmContactEmail.email).where(
            CrmContactEmail.org_id == org_id
        )
    ):
        emails_of[contact_id].add(email)
    leads = dict(
        db.execute(select(CrmLead.id, CrmLead.email).where(CrmLead.org_id == org_id)).all()
    )
    accounts = dict(
        db.execute(select(CrmAccount.id, CrmAccount.name).where(CrmAccount.org_id == org_id)).all()
    )
    state: dict[str, dict] = {}
    for a in activities.values():
        state[a.key] = {
            "kind": a.kind,
            "cancelled": a.cancelled,
            "start": a.start,
            "subject": a.subject,
            "people": [],
            "accounts": set(),
            "records": set(),
        }
    for activity_id, rtype, rid in db.execute(
        select(
            CrmActivityLink.activity_id, CrmActivityLink.record_type, CrmActivityLink.record_id
        ).where(CrmActivityLink.org_id == org_id)
    ):
        entry = state[activities[activity_id].key]
        if (rtype, rid) in entry["records"]:
            continue
        entry["records"].add((rtype, rid))
        if rtype == "contact":
            entry["people"].append(emails_of[rid])
        elif rtype == "lead":
            entry["people"].append({leads[rid]})
        elif rtype == "account":
            entry["accounts"].add(accounts[rid])
    return state


def assert_crm_matches(db, org_id: int, expected: Expected) -> None:
    state = crm_state(db, org_id)
    wanted = set(expected.emails) | set(expected.meetings)
    missing = sorted(wanted - set(state))
    extra = sorted(set(state) - wanted)
    assert not missing, f"{len(missing)} expected items not in the CRM, e.g. {missing[:3]}"
    assert not extra, f"{len(extra)} items in the CRM that should not be, e.g. {extra[:3]}"
    for key, label in [*expected.emails.items(), *expected.meetings.items()]:
        got = state[key]
        people = sorted(label["people"])
        assert len(got["people"]) == len(people), (key, got, label)
        for address in people:
            assert any(address in emails for emails in got["people"]), (key, address, got)
        assert got["accounts"] == set(label["accounts"]), (key, got, label)
    for uid, label in expected.meetings.items():
        assert state[uid]["kind"] == "meeting"
        assert state[uid]["cancelled"] == label["cancelled"], (uid, label)
        assert state[uid]["start"].strftime("%Y-%m-%dT%H:%M:%SZ") == label["start"], uid
    # Zero duplicates, whatever the CRM's own constraints: one activity and one ledger row
    # per key.
    dupes = db.execute(
        select(CrmActivity.key, func.count())
        .where(CrmActivity.org_id == org_id)
        .group_by(CrmActivity.key)
        .having(func.count() > 1)
    ).all()
    assert not dupes
    ledger_dupes = db.execute(
        select(LedgerEntry.item_key, func.count())
        .where(LedgerEntry.org_id == org_id)
        .group_by(LedgerEntry.item_key, LedgerEntry.crm_target)
        .having(func.count() > 1)
    ).all()
    assert not ledger_dupes
    ledger_keys = set(db.scalars(select(LedgerEntry.item_key).where(LedgerEntry.org_id == org_id)))
    assert ledger_keys == wanted
