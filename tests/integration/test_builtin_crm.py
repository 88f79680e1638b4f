"""Behaviour specific to the built-in CRM (beyond the shared contract): concurrency,
organisation isolation, last-interaction times, one round trip per lookup, error mapping."""

from __future__ import annotations

import threading
from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import event, func, select

from server.crm.base import (
    ActivityDraft,
    ContactDraft,
    CRMNotFound,
    CRMUnavailable,
    CRMValidationError,
    Link,
    RecordRef,
)
from server.crm.builtin.adapter import BuiltinCRM
from server.crm.builtin.models import CrmActivity, CrmActivityLink, CrmContact
from server.db import get_engine

from .crm_harness import BuiltinHarness

T0 = datetime(2026, 3, 2, 9, 30, tzinfo=UTC)


@pytest.fixture
def harness(db):
    return BuiltinHarness(db)


def draft(key, *links, kind="email", start=T0, cancelled=False):
    return ActivityDraft(
        key=key, kind=kind, subject="s", start=start, links=list(links), cancelled=cancelled
    )


def test_organisations_never_see_each_others_records(db, harness):
    other = BuiltinHarness(db, tenant_id="other-tenant")
    mine = harness.add_contact("Ana Bauer", ["ana@acme.test"])
    theirs = other.add_contact("Ana Bauer (other org)", ["ana@acme.test"])
    account = other.add_account("Acme", ["acme.test"])
    db.commit()
    assert [p.ref.id for p in harness.crm.find_people(["ana@acme.test"])["ana@acme.test"]] == [mine]
    assert [p.ref.id for p in other.crm.find_people(["ana@acme.test"])["ana@acme.test"]] == [theirs]
    assert harness.crm.accounts_by_domains(["acme.test"]) == {}
    assert harness.crm.get_records([RecordRef("contact", theirs)]) == {}
    assert harness.crm.search("other org") == []
    with pytest.raises(CRMNotFound):
        harness.crm.log_emails([draft("<x@y>", Link(RecordRef("account", account)))])


def test_find_people_is_one_round_trip_for_many_addresses(db, harness):
    account = harness.add_account("Acme", ["acme.test"])
    for n in range(20):
        harness.add_contact(f"P{n}", [f"p{n}@acme.test", f"p{n}@home.test"], account)
        harness.add_lead(f"L{n}", f"p{n}@acme.test")
    db.commit()
    statements: list[str] = []

    def count(conn, cursor, statement, *args):
        statements.append(statement)

    engine = get_engine()
    event.listen(engine, "before_cursor_execute", count)
    try:
        found = harness.crm.find_people([f"P{n}@ACME.test" for n in range(40)] + ["bad"])
    finally:
        event.remove(engine, "before_cursor_execute", count)
    assert len(statements) == 1
    assert len(found) == 20 and all(len(people) == 2 for people in found.values())


def test_converted_leads_are_not_matched(db, harness):
    harness.add_lead("Old Lead", "old@acme.test", converted=True)
    db.commit()
    assert harness.crm.find_people(["old@acme.test"]) == {}


def test_a_large_batch_of_addresses_is_answered(db, harness):
    harness.add_contact("Ana Bauer", ["ana@acme.test"])
    db.commit()
    addresses = [f"nobody{n}@acme.test" for n in range(12_000)] + ["ana@acme.test"]
    assert list(harness.crm.find_people(addresses)) == ["ana@acme.test"]


def test_last_interaction_moves_forward_only(db, harness):
    cid = harness.add_contact("Ana Bauer", ["ana@acme.test"])
    db.commit()
    ref = Link(RecordRef("contact", cid))
    harness.crm.log_emails([draft("<new@x>", ref, start=T0)])
    harness.crm.log_emails([draft("<old@x>", ref, start=T0 - timedelta(days=3))])
    future = datetime.now(UTC) + timedelta(days=5)
    harness.crm.log_meetings([draft("ical-future", ref, kind="meeting", start=future)])
    harness.crm.log_meetings(
        [draft("ical-cancelled", ref, kind="meeting", start=T0 + timedelta(days=1), cancelled=True)]
    )
    db.commit()
    assert db.scalar(select(CrmContact.last_activity_at).where(CrmContact.id == int(cid))) == T0


def test_invalid_writes_raise_crm_errors(db, harness):
    cid = harness.add_contact("Ana Bauer", ["ana@acme.test"])
    db.commit()
    with pytest.raises(CRMNotFound):
        harness.crm.log_emails([draft("<a@x>", Link(RecordRef("contact", "987654")))])
    with pytest.raises(CRMValidationError):
        harness.crm.log_emails([draft("ical-1", kind="meeting")])
    with pytest.raises(CRMValidationError):
        harness.crm.log_emails([draft("<a@x>", Link(RecordRef("contact", cid), "boss"))])
    harness.crm.log_emails([draft("<a@x>")])
    with pytest.raises(CRMValidationError):  # the key is taken by an email
        harness.crm.log_meetings([draft("<a@x>", kind="meeting")])
    with pytest.raises(CRMValidationError):
        harness.crm.create_contact(ContactDraft("Ana", "not an address"))
    with pytest.raises(CRMValidationError):
        harness.crm.create_contact(ContactDraft("  ", "ana2@acme.test"))
    with pytest.raises(CRMNotFound):
        harness.crm.create_contact(ContactDraft("Ana", "ana2@acme.test", account_id="424242"))


def test_concurrent_logging_of_one_key_writes_one_activity(app, db, harness):
    contacts = [harness.add_contact(f"P{n}", [f"p{n}@acme.test"]) for n in range(4)]
    db.commit()
    make_session = app.extensions["db_sessionmaker"]
    barrier = threading.Barrier(len(contacts))
    results, errors = [], []

    def save(contact_id: str) -> None:
        session = make_session()
        crm = BuiltinCRM(session, harness.org_id)
        link = Link(RecordRef("contact", contact_id), "to")
        try:
            barrier.wait(timeout=10)
            for _attempt in range(50):
                try:
                    [logged] = crm.log_emails([draft("<same@x>", link)])
                    session.commit()
                    results.append(logged)
                    return
                except CRMUnavailable:  # SQLite: another writer holds the lock; retry
                    session.rollback()
        except Exception as exc:  # surfaced by the assertion below
            errors.append(exc)
        finally:
            session.close()

    threads = [threading.Thread(target=save, args=(c,)) for c in contacts]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=60)
    assert errors == [] and len(results) == len(contacts)
    assert sum(r.created for r in results) == 1
    assert len({r.id for r in results}) == 1
    db.expire_all()
    assert db.scalar(select(func.count()).select_from(CrmActivity)) == 1
    links = db.scalars(select(CrmActivityLink.record_id)).all()
    assert sorted(links) == sorted(int(c) for c in contacts)


def test_opportunities_come_open_soonest_first_then_recently_closed(db, harness):
    from datetime import date

    account = harness.add_account("Acme", ["acme.test"])
    later = harness.add_opportunity("later", account, close_date=date(2026, 9, 1))
    sooner = harness.add_opportunity("sooner", account, close_date=date(2026, 5, 1))
    undated = harness.add_opportunity("undated", account)
    old = harness.add_opportunity("old", account, is_closed=True, close_date=date(2025, 1, 1))
    recent = harness.add_opportunity("recent", account, is_closed=True, close_date=date(2026, 1, 1))
    db.commit()
    found = [o.ref.id for o in harness.crm.opportunities_of([account])]
    assert found == [sooner, later, undated, recent, old]


def test_overlapping_batches_in_opposite_order_do_not_deadlock(app, db, harness):
    cid = harness.add_contact("Ana Bauer", ["ana@acme.test"])
    db.commit()
    link = Link(RecordRef("contact", cid))
    keys = [f"<k{n}@x>" for n in range(20)]
    make_session = app.extensions["db_sessionmaker"]
    barrier = threading.Barrier(2)
    errors: list[Exception] = []
    retries: list[int] = []

    def save(order: list[str]) -> None:
        session = make_session()
        crm = BuiltinCRM(session, harness.org_id)
        try:
            barrier.wait(timeout=10)
            for _attempt in range(50):
                try:
                    crm.log_emails([draft(k, link) for k in order])
                    session.commit()
                    return
                except CRMUnavailable:
                    retries.append(1)
                    session.rollback()
            errors.append(RuntimeError("gave up"))
        except Exception as exc:
            errors.append(exc)
        finally:
            session.close()

    threads = [
        threading.Thread(target=save, args=(keys,)),
        threading.Thread(target=save, args=(keys[::-1],)),
    ]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=60)
    assert errors == []
    if db.get_bind().dialect.name == "postgresql":  # row locks, no database-wide write lock
        assert retries == []  # keys are inserted in one order: no deadlock to retry
    db.expire_all()
    assert db.scalar(select(func.count()).select_from(CrmActivity)) == len(keys)
    assert db.scalar(select(func.count()).select_from(CrmActivityLink)) == len(keys)


def _statements_of(action) -> list[str]:
    statements: list[str] = []

    def count(conn, cursor, statement, *args):
        statements.append(statement)

    engine = get_engine()
    event.listen(engine, "before_cursor_execute", count)
    try:
        action()
    finally:
        event.remove(engine, "before_cursor_execute", count)
    return statements


def test_a_large_mixed_batch_keeps_input_order_and_adds_only_missing_links(db, harness):
    a = Link(RecordRef("contact", harness.add_contact("Ana Bauer", ["ana@acme.test"])))
    b = Link(RecordRef("contact", harness.add_contact("Ben Ode", ["ben@acme.test"])), "to")
    db.commit()
    before = harness.crm.log_emails([draft(f"<old{n}@x>", a) for n in range(3)])
    drafts = [draft(f"<k{n}@x>", a) for n in range(400)]
    drafts[10:10] = [draft(f"<old{n}@x>", a, b) for n in range(3)]  # existing: b is missing
    drafts.append(draft("<k5@x>", b))  # a repeat of a new key, asking for one more link
    results = harness.crm.log_emails(drafts)
    db.commit()
    assert [r.key for r in results] == [d.key for d in drafts]
    assert [r.created for r in results] == [not d.key.startswith("<old") for d in drafts[:-1]] + [
        False
    ]
    olds = [r for r in results if r.key.startswith("<old")]
    assert [r.id for r in olds] == [r.id for r in before]
    assert all(r.links == [a, b] and r.added_links == [b] for r in olds)
    first_k5, last_k5 = [r for r in results if r.key == "<k5@x>"]
    assert first_k5.id == last_k5.id and last_k5.links == [a, b]
    assert first_k5.added_links == [a] and last_k5.added_links == [b]
    assert db.scalar(select(func.count()).select_from(CrmActivity)) == 403
    assert db.scalar(select(func.count()).select_from(CrmActivityLink)) == 3 * 2 + 400 + 1
    again = harness.crm.log_emails(drafts)
    assert not any(r.created or r.added_links for r in again)
    assert [r.id for r in again] == [r.id for r in results]


def test_round_trips_of_log_emails_do_not_grow_with_the_batch(db, harness):
    cid = harness.add_contact("Ana Bauer", ["ana@acme.test"])
    db.commit()
    link = Link(RecordRef("contact", cid))
    small = _statements_of(
        lambda: harness.crm.log_emails([draft(f"<s{n}@x>", link) for n in range(20)])
    )
    large = _statements_of(
        lambda: harness.crm.log_emails([draft(f"<l{n}@x>", link) for n in range(600)])
    )
    assert len(large) == len(small) <= 6
    db.commit()
    assert db.scalar(select(func.count()).select_from(CrmActivityLink)) == 620


def test_last_interaction_takes_the_newest_of_a_batch(db, harness):
    ana = harness.add_contact("Ana Bauer", ["ana@acme.test"])
    ben = harness.add_contact("Ben Ode", ["ben@acme.test"])
    db.commit()
    to_ana, to_ben = Link(RecordRef("contact", ana)), Link(RecordRef("contact", ben))
    harness.crm.log_emails([draft("<first@x>", to_ana, start=T0)])
    harness.crm.log_emails(
        [
            draft("<older@x>", to_ana, to_ben, start=T0 - timedelta(days=2)),
            draft("<newer@x>", to_ben, start=T0 + timedelta(days=1)),
            draft("<middle@x>", to_ben, start=T0 - timedelta(days=1)),
        ]
    )
    db.commit()
    at = dict(db.execute(select(CrmContact.id, CrmContact.last_activity_at)).all())
    assert at[int(ana)] == T0  # never moved back by an older email
    assert at[int(ben)] == T0 + timedelta(days=1)


def test_concurrent_batches_touching_the_same_records_do_not_deadlock(app, db, harness):
    contacts = [harness.add_contact(f"P{n}", [f"p{n}@acme.test"]) for n in range(30)]
    db.commit()
    links = [Link(RecordRef("contact", cid)) for cid in contacts]
    make_session = app.extensions["db_sessionmaker"]
    barrier = threading.Barrier(2)
    errors: list[Exception] = []
    retries: list[int] = []

    def save(tag: str, order: list[Link], shift: int) -> None:
        session = make_session()
        crm = BuiltinCRM(session, harness.org_id)
        drafts = [
            draft(f"<{tag}{n}@x>", link, start=T0 + timedelta(minutes=n + shift))
            for n, link in enumerate(order)
        ]
        try:
            barrier.wait(timeout=10)
            for _attempt in range(50):
                try:
                    crm.log_emails(drafts)
                    session.commit()
                    return
                except CRMUnavailable:
                    retries.append(1)
                    session.rollback()
            errors.append(RuntimeError("gave up"))
        except Exception as exc:
            errors.append(exc)
        finally:
            session.close()

    threads = [
        threading.Thread(target=save, args=("a", links, 0)),
        threading.Thread(target=save, args=("b", links[::-1], 100)),
    ]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=60)
    assert errors == []
    if db.get_bind().dialect.name == "postgresql":
        assert retries == []  # records are locked in id order by both writers
    db.expire_all()
    at = dict(db.execute(select(CrmContact.id, CrmContact.last_activity_at)).all())
    # Each contact ends at the newest of its two emails, whichever writer committed last.
    for n, cid in enumerate(contacts):
        newest = max(T0 + timedelta(minutes=n), T0 + timedelta(minutes=29 - n + 100))
        assert at[int(cid)] == newest
