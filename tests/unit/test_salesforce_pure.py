"""Pure parts of the Salesforce connector and of the sandbox's SOQL subset."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from server.crm.base import ActivityDraft, Link, RecordRef
from server.crm.salesforce.activity_read import KEY_LIMIT, sf_key
from server.crm.salesforce.client import Budget, soql_quote
from server.crm.salesforce.records import host_of, normal_address, valid_id
from server.crm.salesforce.shapes import MARKER, plans_of, truncate
from server.sandbox.salesforce_soql import parse_soql, parse_sosl
from server.sandbox.salesforce_store import SalesforceError, salesforce_id


def test_ids_have_the_case_safe_suffix():
    record_id = salesforce_id("003", 1)
    assert len(record_id) == 18 and record_id.startswith("0035g")
    assert valid_id(record_id, "contact") and not valid_id(record_id, "lead")
    assert not valid_id("999999") and not valid_id(record_id + "0")


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        ("https://www.Acme.test/about", ["acme.test"]),
        ("acme.test; acme-eu.test", ["acme.test", "acme-eu.test"]),
        ("", []),
        (None, []),
    ],
)
def test_domains_from_domain_fields(raw, expected):
    assert host_of(raw) == expected


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        (" Ana@Acme.TEST ", "ana@acme.test"),
        ("a b@c.test", None),
        ("x" * 65 + "@acme.test", None),
        ("o'brien@acme.test", None),  # never reaches SOQL unescaped, and not an address we match
        (None, None),
    ],
)
def test_addresses_are_normalised_or_refused(raw, expected):
    assert normal_address(raw) == expected


def test_soql_quoting_escapes_quotes_and_backslashes():
    assert soql_quote("it's a \\ test") == "'it\\'s a \\\\ test'"
    query = parse_soql(
        f"SELECT Id FROM Contact WHERE Email = {soql_quote(chr(39) + ' OR Id != null')}"
    )
    assert query.where(lambda name: "x@y.test") is False


def test_long_bodies_keep_the_limit_and_say_so():
    text = "a" * 40_000
    cut = truncate(text, 32_000)
    assert len(cut) == 32_000 and cut.endswith("]")
    assert MARKER.split("{")[0] in cut
    assert truncate("short", 32_000) == "short"


def test_keys_fit_the_field():
    long_key = "<" + "x" * 600 + "@acme.test>"
    assert len(sf_key(long_key)) <= KEY_LIMIT and sf_key(long_key) == sf_key(long_key)
    assert sf_key("<m@x>") == "<m@x>"


def test_a_batch_plan_merges_repeats_and_drops_invalid_ids():
    contact = RecordRef("contact", salesforce_id("003", 5))
    account = RecordRef("account", salesforce_id("001", 6))
    opp = RecordRef("opportunity", salesforce_id("006", 7))
    start = datetime(2026, 3, 1, tzinfo=UTC)
    drafts = [
        ActivityDraft("<a@x>", "email", "S", start, links=[Link(contact, "from"), Link(account)]),
        ActivityDraft(
            "<a@x>", "email", "S", start, links=[Link(opp), Link(RecordRef("contact", "bad"))]
        ),
    ]
    [plan] = plans_of(drafts).values()
    assert plan.links == [Link(contact, "from"), Link(account), Link(opp)]
    assert plan.what_id == opp.id  # the opportunity before the account


def test_budget_pauses_writes_at_the_threshold():
    now = datetime(2026, 3, 1, tzinfo=UTC)
    budget = Budget(pause_percent=80, pause_minutes=60)
    budget.observe("api-usage=79999/100000", now)
    budget.check_writes(now)
    budget.observe("api-usage=80000/100000; per-app-api-usage=10/500(appName=courier)", now)
    with pytest.raises(Exception) as raised:
        budget.check_writes(now)
    assert raised.value.resume_at.hour == 1


def test_the_sandbox_parses_the_queries_we_send():
    query = parse_soql(
        "SELECT Id, Account.Name FROM Contact WHERE (Email IN ('a@x.test', 'B@x.test') "
        "OR Other_Email__c LIKE '%@x.test') AND NOT Name = 'Zed' ORDER BY Name DESC LIMIT 5"
    )
    record = {"Email": "b@X.test", "Name": "Ana"}
    assert query.where(record.get) is True and query.limit == 5
    assert query.order_by == [("Name", True)]
    search = parse_sosl("FIND {qzx\\-mail} IN ALL FIELDS RETURNING Contact(Id, Name), Lead LIMIT 3")
    assert search.text == "qzx-mail" and [q.sobject for q in search.returning] == [
        "Contact",
        "Lead",
    ]
    with pytest.raises(SalesforceError):
        parse_soql("SELECT Id FROM Contact WHERE Email IN")


@pytest.mark.parametrize("length", [32_001, 40_000, 42_050, 99_000])
def test_the_marker_counts_exactly_what_was_cut(length):
    text = "a" * length
    cut = truncate(text, 32_000)
    kept = cut.index("\n\n[Truncated")
    said = int(cut.rsplit(": ", 1)[1].split()[0])
    assert len(cut) == 32_000 and kept + said == length


def test_a_long_synced_email_reaches_salesforce_with_the_marker():
    """Graph's parse and the pipeline's draft must not cut a body silently before the
    adapter cuts it to the field with its visible marker."""
    from datetime import UTC, datetime

    from server.crm.salesforce.shapes import BODY_LIMIT
    from server.mail.graph_parse import parse_message
    from server.sync.decide import message_draft

    raw = {
        "id": "m1",
        "internetMessageId": "<long@acme.test>",
        "subject": "Long",
        "from": {"emailAddress": {"address": "ana@acme.test"}},
        "toRecipients": [{"emailAddress": {"address": "me@courier.test"}}],
        "sentDateTime": datetime(2026, 11, 1, tzinfo=UTC).isoformat(),
        "body": {"contentType": "text", "content": "b" * 50_000},
    }
    message = parse_message(raw, "inbox")
    draft = message_draft(message, "<long@acme.test>", [], "inbound", None)
    stored = truncate(draft.body_text, BODY_LIMIT)
    assert len(stored) == BODY_LIMIT and "[Truncated by Courier: " in stored[-80:]


def test_relation_types_are_only_the_restricted_picklist_values():
    """EmailMessageRelation.RelationType is a restricted picklist (From/To/Cc/BccAddress): a
    person linked to an email in any other role is not written as a relation at all, and the
    sandbox enforces the same values."""
    from server.crm.salesforce.records import SalesforceOptions
    from server.crm.salesforce.shapes import spec_for
    from server.sandbox.salesforce_dml import RESTRICTED_PICKLISTS

    allowed = RESTRICTED_PICKLISTS[("EmailMessageRelation", "RelationType")][1]
    spec = spec_for(SalesforceOptions(email_mode="enhanced"), "email")
    contact = RecordRef("contact", salesforce_id("003", 7))
    roles = ["from", "to", "cc", "bcc", "related", "attendee", "organizer"]
    draft = ActivityDraft(
        key="<k@x>",
        kind="email",
        subject="s",
        start=datetime(2026, 3, 2, tzinfo=UTC),
        links=[
            Link(RecordRef("contact", salesforce_id("003", n)), role)
            for n, role in enumerate(roles)
        ],
    )
    plan = plans_of([draft])["<k@x>"]
    relations = [spec.relation("02s", link) for link in spec.persons(plan)]
    assert {r["RelationType"] for r in relations} == allowed
    assert [spec.stored_link(Link(contact, role)) for role in ("related", "attendee")] == [
        None,
        None,
    ]
    account = Link(RecordRef("account", salesforce_id("001", 1)))
    assert spec.stored_link(account) == account
    task = spec_for(SalesforceOptions(email_mode="task"), "email").record(plan)
    assert task["TaskSubtype"] in RESTRICTED_PICKLISTS[("Task", "TaskSubtype")][1]
    email = spec.record(plan)
    assert email["Status"] in RESTRICTED_PICKLISTS[("EmailMessage", "Status")][1]
