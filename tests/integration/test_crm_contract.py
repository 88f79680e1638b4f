"""The CRM contract: every adapter in crm_harness.HARNESSES passes these same tests."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta

import pytest

from server.crm.base import (
    ActivityDraft,
    ActivityParticipant,
    ContactDraft,
    CRMNotFound,
    LeadDraft,
    Link,
    RecordRef,
)

from .crm_harness import HARNESSES

T0 = datetime(2026, 3, 2, 9, 30, tzinfo=UTC)


@pytest.fixture(params=sorted(HARNESSES))
def crm_harness(request, app):
    return HARNESSES[request.param](request)


def email(key: str, *links: Link, subject: str = "Quote", start: datetime = T0) -> ActivityDraft:
    return ActivityDraft(
        key=key,
        kind="email",
        subject=subject,
        start=start,
        body_text="Hello",
        participants=[ActivityParticipant("ana@acme.test", "Ana", "from")],
        links=list(links),
    )


def meeting(key: str, *links: Link, subject="Kick-off", start=T0, cancelled=False):
    return ActivityDraft(
        key=key,
        kind="meeting",
        subject=subject,
        start=start,
        end=start + timedelta(hours=1),
        links=list(links),
        cancelled=cancelled,
    )


def contact_ref(contact_id: str) -> RecordRef:
    return RecordRef("contact", contact_id)


def test_a_contact_is_found_by_any_of_its_addresses_with_all_of_them(crm_harness):
    h = crm_harness
    addresses = ["ana@acme.test", "ana.b@acme-eu.test", "ana@inboxmail.test"]
    cid = h.add_contact("Ana Bauer", addresses, owner=h.owner_a)
    h.commit()
    for address in addresses:
        people = h.crm.find_people([address])
        assert [p.ref for p in people[address]] == [contact_ref(cid)]
        assert sorted(people[address][0].emails) == sorted(addresses)


def test_lookup_is_case_insensitive_and_keys_are_lower_cased(crm_harness):
    h = crm_harness
    cid = h.add_contact("Nadia Patel", ["Nadia.Patel@Acme.Test"])
    h.commit()
    found = h.crm.find_people(["NADIA.patel@acme.TEST"])
    assert list(found) == ["nadia.patel@acme.test"]
    assert found["nadia.patel@acme.test"][0].ref == contact_ref(cid)


def test_every_match_of_an_address_is_returned(crm_harness):
    h = crm_harness
    account = h.add_account("Acme", ["acme.test"])
    first = h.add_contact("Ana Bauer", ["sales@acme.test", "ana@acme.test"], account)
    second = h.add_contact("Ben Cruz", ["sales@acme.test"], account)
    lead = h.add_lead("Ana Bauer", "ana@acme.test", company="Acme")
    h.commit()
    found = h.crm.find_people(["sales@acme.test", "ana@acme.test", "nobody@acme.test"])
    assert {p.ref for p in found["sales@acme.test"]} == {contact_ref(first), contact_ref(second)}
    assert {p.ref for p in found["ana@acme.test"]} == {contact_ref(first), RecordRef("lead", lead)}
    assert "nobody@acme.test" not in found
    by_ref = {p.ref: p for p in found["ana@acme.test"]}
    assert by_ref[contact_ref(first)].account_id == account
    assert by_ref[contact_ref(first)].account_name == "Acme"
    assert by_ref[RecordRef("lead", lead)].company == "Acme"


def test_malformed_addresses_are_ignored_without_error(crm_harness):
    h = crm_harness
    h.add_contact("Ana Bauer", ["ana@acme.test"])
    h.commit()
    junk = ["", "not-an-address", "a@", "@acme.test", "x" * 400 + "@acme.test", "a b@c.test"]
    found = h.crm.find_people([*junk, "ana@acme.test", None])  # type: ignore[list-item]
    assert list(found) == ["ana@acme.test"]
    assert h.crm.find_people([]) == {}
    assert h.crm.find_people(junk) == {}


def test_accounts_by_domains(crm_harness):
    h = crm_harness
    acme = h.add_account("Acme", ["acme.test", "acme-eu.test"], owner=h.owner_a)
    h.add_account("Globex", ["globex.test"])
    h.commit()
    found = h.crm.accounts_by_domains(["ACME-EU.test", "unknown.test"])
    assert list(found) == ["acme-eu.test"]
    [account] = found["acme-eu.test"]
    assert account.ref == RecordRef("account", acme)
    assert account.name == "Acme"
    assert sorted(account.domains) == ["acme-eu.test", "acme.test"]


def test_opportunities_of_accounts_optionally_by_owner(crm_harness):
    h = crm_harness
    acme = h.add_account("Acme", ["acme.test"])
    globex = h.add_account("Globex", ["globex.test"])
    other = h.add_account("Initech", ["initech.test"])
    mine = h.add_opportunity("Acme renewal", acme, owner=h.owner_a, amount=5000.0)
    theirs = h.add_opportunity("Acme pilot", acme, owner=h.owner_b)
    closed = h.add_opportunity(
        "Globex deal",
        globex,
        owner=h.owner_a,
        stage="Closed Won",
        is_closed=True,
        close_date=date(2026, 1, 15),
    )
    h.add_opportunity("Initech deal", other, owner=h.owner_a)
    h.commit()
    every = h.crm.opportunities_of([acme, globex])
    assert {o.ref.id for o in every} == {mine, theirs, closed}
    own = h.crm.opportunities_of([acme, globex], owner_id=h.owner_a)
    assert {o.ref.id for o in own} == {mine, closed}
    by_id = {o.ref.id: o for o in own}
    assert by_id[closed].is_closed and by_id[closed].close_date == date(2026, 1, 15)
    assert by_id[mine].amount == 5000.0 and by_id[mine].account_id == acme
    assert h.crm.opportunities_of([]) == []


def test_search_finds_by_name_email_and_company(crm_harness):
    h = crm_harness
    account = h.add_account("Zephyr Robotics", ["zephyr.test"])
    cid = h.add_contact("Quentin Zephyr", ["quentin@zephyr.test"], account)
    other = h.add_contact("Mara Lind", ["mara@qzx-mail.test"])
    lead = h.add_lead("Ola Berg", "ola@berg.test", company="Zephyr Labs")
    h.commit()
    hits = h.crm.search("zephyr")
    refs = [hit.ref for hit in hits]
    assert contact_ref(cid) in refs
    assert RecordRef("account", account) in refs
    assert RecordRef("lead", lead) in refs
    assert [hit.ref for hit in h.crm.search("QZX-MAIL")] == [contact_ref(other)]
    assert len(h.crm.search("zephyr", limit=2)) == 2
    assert h.crm.search("no-such-thing-anywhere") == []
    # The exact name ranks first.
    assert h.crm.search("Quentin Zephyr")[0].ref == contact_ref(cid)


def test_get_records_leaves_out_missing_ids(crm_harness):
    h = crm_harness
    account = h.add_account("Acme", ["acme.test"])
    cid = h.add_contact("Ana Bauer", ["ana@acme.test"], account)
    lead = h.add_lead("Ben Cruz", "ben@cruz.test")
    opp = h.add_opportunity("Acme renewal", account)
    h.commit()
    refs = [
        contact_ref(cid),
        RecordRef("lead", lead),
        RecordRef("account", account),
        RecordRef("opportunity", opp),
        contact_ref("999999"),
        contact_ref("not-an-id"),
        contact_ref("²"),
        RecordRef("lead", cid + "0"),
    ]
    found = h.crm.get_records(refs)
    assert set(found) == set(refs[:4])
    assert found[contact_ref(cid)].emails == ["ana@acme.test"]
    assert found[RecordRef("account", account)].domains == ["acme.test"]


def test_created_contacts_and_leads_are_found(crm_harness):
    h = crm_harness
    account = h.add_account("Acme", ["acme.test"])
    h.commit()
    person = h.crm.create_contact(
        ContactDraft("Ana Bauer", "Ana@Acme.test", owner_id=h.owner_a, account_id=account)
    )
    lead = h.crm.create_lead(LeadDraft("Ben Cruz", "ben@cruz.test", company="Cruz Ltd"))
    h.commit()
    found = h.crm.find_people(["ana@acme.test", "ben@cruz.test"])
    assert [p.ref for p in found["ana@acme.test"]] == [person.ref]
    assert [p.ref for p in found["ben@cruz.test"]] == [lead.ref]
    assert person.account_id == account and person.owner_id == h.owner_a
    assert lead.company == "Cruz Ltd"


def test_a_contact_created_with_a_company_joins_or_creates_its_account(crm_harness):
    h = crm_harness
    acme = h.add_account("Acme Corp", ["acme.test"])
    h.commit()
    # An account of that name exists (whatever the case): the contact joins it.
    ana = h.crm.create_contact(
        ContactDraft("Ana Bauer", "ana@acme-mail.test", owner_id=h.owner_a, company="ACME corp")
    )
    # None does: a new account of that name, and the next contact joins the same one.
    ben = h.crm.create_contact(
        ContactDraft("Ben Cruz", "ben@cruz.test", owner_id=h.owner_a, company="Cruz Ltd")
    )
    cid = h.crm.create_contact(ContactDraft("Cid Diaz", "cid@cruz.test", company="Cruz Ltd"))
    # Without a company, no account (as before).
    dee = h.crm.create_contact(ContactDraft("Dee Ek", "dee@ek.test"))
    h.commit()
    assert ana.account_id == acme
    assert ben.account_id and ben.account_id != acme and cid.account_id == ben.account_id
    assert dee.account_id is None
    cruz = RecordRef("account", ben.account_id)
    assert h.crm.get_records([cruz])[cruz].name == "Cruz Ltd"
    found = h.crm.find_people(["ben@cruz.test"])["ben@cruz.test"]
    assert found[0].account_id == ben.account_id and found[0].account_name == "Cruz Ltd"


def test_logging_the_same_email_again_adds_only_missing_links(crm_harness):
    h = crm_harness
    account = h.add_account("Acme", ["acme.test"])
    ana = contact_ref(h.add_contact("Ana Bauer", ["ana@acme.test"], account))
    ben = contact_ref(h.add_contact("Ben Cruz", ["ben@acme.test"], account))
    h.commit()
    acc = RecordRef("account", account)
    first = h.crm.log_emails([email("<m1@acme.test>", Link(ana, "from"), Link(acc))])[0]
    h.commit()
    again = h.crm.log_emails([email("<m1@acme.test>", Link(ana, "from"), Link(acc))])[0]
    h.commit()
    third = h.crm.log_emails([email("<m1@acme.test>", Link(ben, "to"), Link(ana, "from"))])[0]
    h.commit()
    assert first.created and not again.created and not third.created
    assert first.id == again.id == third.id
    assert set(first.added_links) == {Link(ana, "from"), Link(acc)}
    assert again.added_links == []
    assert third.added_links == [Link(ben, "to")]
    assert set(third.links) == {Link(ana, "from"), Link(acc), Link(ben, "to")}
    logged = h.crm.find_activities(["<m1@acme.test>"])["<m1@acme.test>"]
    assert logged.id == first.id and set(logged.links) == set(third.links)


def test_a_batch_keeps_order_and_handles_repeats_within_it(crm_harness):
    h = crm_harness
    ana = contact_ref(h.add_contact("Ana Bauer", ["ana@acme.test"]))
    h.commit()
    drafts = [email("<a@x>", Link(ana)), email("<b@x>", Link(ana)), email("<a@x>", Link(ana, "to"))]
    results = h.crm.log_emails(drafts)
    h.commit()
    assert [r.key for r in results] == ["<a@x>", "<b@x>", "<a@x>"]
    assert [r.created for r in results] == [True, True, False]
    assert results[0].id == results[2].id != results[1].id
    assert results[2].added_links == [Link(ana, "to")]
    assert h.crm.log_emails([]) == []


def test_an_email_links_to_many_records(crm_harness):
    h = crm_harness
    account = h.add_account("Acme", ["acme.test"])
    opp = h.add_opportunity("Acme renewal", account)
    lead = h.add_lead("Lea Kim", "lea@kim.test")
    contacts = [h.add_contact(f"Person {n}", [f"p{n}@acme.test"], account) for n in range(30)]
    h.commit()
    links = [Link(contact_ref(c), "to") for c in contacts] + [
        Link(RecordRef("account", account)),
        Link(RecordRef("opportunity", opp)),
        Link(RecordRef("lead", lead), "cc"),
    ]
    [logged] = h.crm.log_emails([email("<big@acme.test>", *links)])
    h.commit()
    assert set(logged.links) == set(links)
    assert set(h.crm.find_activities(["<big@acme.test>"])["<big@acme.test>"].links) == set(links)


def test_log_meetings_updates_and_cancels(crm_harness):
    h = crm_harness
    ana = contact_ref(h.add_contact("Ana Bauer", ["ana@acme.test"]))
    ben = contact_ref(h.add_contact("Ben Cruz", ["ben@acme.test"]))
    h.commit()
    [first] = h.crm.log_meetings([meeting("ical-1", Link(ana, "attendee"))])
    h.commit()
    moved = T0 + timedelta(days=1)
    [update] = h.crm.log_meetings(
        [meeting("ical-1", Link(ben, "attendee"), subject="Kick-off (moved)", start=moved)]
    )
    h.commit()
    assert first.created and not update.created and update.id == first.id
    assert update.subject == "Kick-off (moved)" and not update.cancelled
    assert update.added_links == [Link(ben, "attendee")]
    [cancel] = h.crm.log_meetings(
        [meeting("ical-1", subject="Kick-off (moved)", start=moved, cancelled=True)]
    )
    h.commit()
    assert cancel.cancelled and cancel.id == first.id
    assert set(cancel.links) == {Link(ana, "attendee"), Link(ben, "attendee")}
    found = h.crm.find_activities(["ical-1", "unknown-key"])
    assert list(found) == ["ical-1"] and found["ical-1"].cancelled
    assert found["ical-1"].kind == "meeting"


def test_find_activities_of_unknown_keys_is_empty(crm_harness):
    assert crm_harness.crm.find_activities(["<never@x>"]) == {}
    assert crm_harness.crm.find_activities([]) == {}


def test_person_cards_in_one_batch(crm_harness):
    """A card per person: owner, account, last interaction, the newest activities first (at
    most `recent`), the account's opportunities open and closed, a link to the record."""
    h = crm_harness
    acme = h.add_account("Acme", ["acme.test"])
    ana = contact_ref(h.add_contact("Ana Bauer", ["ana@acme.test"], acme, owner=h.owner_a))
    ben = contact_ref(h.add_contact("Ben Cruz", ["ben@acme.test"], acme, owner=h.owner_b))
    lea = RecordRef("lead", h.add_lead("Lea Kim", "lea@kim.test", "Kim Ltd", owner=h.owner_a))
    open_opp = h.add_opportunity("Acme renewal", acme, amount=5000.0, close_date=date(2026, 9, 1))
    won = h.add_opportunity(
        "Acme pilot", acme, stage="Closed Won", is_closed=True, close_date=date(2026, 1, 15)
    )
    h.commit()
    days = [T0 + timedelta(days=n) for n in range(7)]
    h.crm.log_emails(
        [
            email(f"<m{n}@acme.test>", Link(ana, "to"), subject=f"Mail {n}", start=days[n])
            for n in range(6)
        ]
    )
    h.crm.log_emails([email("<lea@kim.test>", Link(lea, "to"), subject="Hello Lea")])
    h.crm.log_meetings(
        [meeting("ical-card", Link(ana, "attendee"), subject="Review", start=days[6])]
    )
    h.commit()
    unknown = RecordRef("contact", "999999" if h.name == "builtin" else "003000000000999AAA")
    with h.round_trips() as calls:
        cards = h.crm.person_cards([ana, ben, lea, unknown], recent=5)
    assert set(cards) == {ana, ben, lea}
    if h.name == "salesforce":
        assert calls[0] == 1  # contacts, leads, opportunities, emails, meetings: one Composite
    else:
        assert calls[0] <= 3  # people, activities, opportunities: none per person
    card = cards[ana]
    assert card.name == "Ana Bauer" and card.account_id == acme and card.account_name == "Acme"
    assert card.owner_id == h.owner_a and card.owner_name
    assert [a.subject for a in card.recent] == ["Review", "Mail 5", "Mail 4", "Mail 3", "Mail 2"]
    assert [a.kind for a in card.recent][:2] == ["meeting", "email"]
    assert card.last_activity_at is not None
    assert str(card.last_activity_at)[:10] == days[6].date().isoformat()
    by_id = {o.ref.id: o for o in card.opportunities}
    assert set(by_id) == {open_opp, won}
    assert by_id[won].is_closed and by_id[won].close_date == date(2026, 1, 15)
    assert by_id[open_opp].amount == 5000.0 and not by_id[open_opp].is_closed
    assert card.opportunities[0].ref.id == open_opp  # open ones first
    assert ana.id in card.url
    assert cards[ben].recent == [] and cards[ben].owner_id == h.owner_b
    assert [a.subject for a in cards[lea].recent] == ["Hello Lea"]
    assert cards[lea].opportunities == [] and cards[lea].account_name == "Kim Ltd"
    with h.round_trips() as calls:
        assert h.crm.person_cards([]) == {}
        assert h.crm.person_cards([RecordRef("account", acme)]) == {}
    assert calls[0] == 0


def test_unlink_people_from_a_logged_email_and_delete_it(crm_harness):
    """Unlink removes the email's links to a person (every role) in the CRM itself; delete
    removes the email; a key deleted can be logged again as a new email."""
    h = crm_harness
    account = h.add_account("Acme", ["acme.test"])
    ana = contact_ref(h.add_contact("Ana Bauer", ["ana@acme.test"], account))
    ben = contact_ref(h.add_contact("Ben Cruz", ["ben@acme.test"], account))
    h.commit()
    [logged] = h.crm.log_emails(
        [email("<unlink@acme.test>", Link(ana, "from"), Link(ben, "to"), Link(ben, "cc"))]
    )
    h.commit()
    left = h.crm.unlink_email(logged.id, [ben])
    h.commit()
    assert {link.ref for link in left} == {ana}
    stored = h.crm.find_activities(["<unlink@acme.test>"])["<unlink@acme.test>"]
    assert {link.ref for link in stored.links} == {ana}
    assert h.crm.person_cards([ben])[ben].recent == []

    h.crm.delete_emails([logged.id])
    h.commit()
    assert h.crm.find_activities(["<unlink@acme.test>"]) == {}
    assert h.crm.person_cards([ana])[ana].recent == []
    h.crm.delete_emails([logged.id])  # already gone: nothing to do
    with pytest.raises(CRMNotFound):
        h.crm.unlink_email(logged.id, [ana])
    h.commit()
    [again] = h.crm.log_emails([email("<unlink@acme.test>", Link(ana, "from"))])
    h.commit()
    assert again.created  # a new email (SQLite may reuse the freed id)
    assert h.crm.find_activities(["<unlink@acme.test>"])["<unlink@acme.test>"].id == again.id


def test_unlink_records_from_a_logged_meeting_and_delete_it(crm_harness):
    """Meetings as emails: unlink removes the meeting's links to a person or its account in the
    CRM itself (Salesforce: EventRelation rows deleted, Event.WhatId cleared); delete removes
    the meeting with its links; a meeting's id is not an email's (nor the other way round)."""
    h = crm_harness
    account = h.add_account("Acme", ["acme.test"])
    ana = contact_ref(h.add_contact("Ana Bauer", ["ana@acme.test"], account))
    ben = contact_ref(h.add_contact("Ben Cruz", ["ben@acme.test"], account))
    acme = RecordRef("account", account)
    h.commit()
    key = "uid:unlink-meeting@acme.test"
    [logged] = h.crm.log_meetings(
        [meeting(key, Link(ana, "attendee"), Link(ben, "attendee"), Link(acme, "related"))]
    )
    [mail] = h.crm.log_emails([email("<not-a-meeting@acme.test>", Link(ana, "from"))])
    h.commit()
    left = h.crm.unlink_meeting(logged.id, [ben])
    h.commit()
    assert {link.ref for link in left} == {ana, acme}
    left = h.crm.unlink_meeting(logged.id, [acme])
    h.commit()
    assert {link.ref for link in left} == {ana}
    stored = h.crm.find_activities([key])[key]
    assert {link.ref for link in stored.links} == {ana}
    assert h.crm.person_cards([ben])[ben].recent == []
    with pytest.raises(CRMNotFound):
        h.crm.unlink_meeting(mail.id, [ana])  # an email is not a meeting
    h.crm.delete_meetings([mail.id])  # nor deleted as one
    h.commit()
    assert "<not-a-meeting@acme.test>" in h.crm.find_activities(["<not-a-meeting@acme.test>"])

    h.crm.delete_meetings([logged.id])
    h.commit()
    assert h.crm.find_activities([key]) == {}
    assert all(a.kind == "email" for a in h.crm.person_cards([ana])[ana].recent)
    h.crm.delete_meetings([logged.id])  # already gone: nothing to do
    with pytest.raises(CRMNotFound):
        h.crm.unlink_meeting(logged.id, [ana])
    h.commit()
    [again] = h.crm.log_meetings([meeting(key, Link(ana, "attendee"))])
    h.commit()
    assert again.created
