"""Pure parts of the pane's services: the item payload, body text, prefill guesses."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from server.errors import ApiError
from server.pane.items import MAX_BODY_STORED, body_text, parse_item
from server.pane.records import guess_company, guess_name


def payload(**overrides):
    base = {
        "subject": "Hello",
        "from": {"address": "Alice@Acme.test", "name": "Alice"},
        "to": [{"address": "me@us.test", "name": "Me"}],
        "cc": [{"address": "not an address", "name": "x"}],
        "date": "2026-11-20T09:30:41Z",
        "internet_message_id": "<m1@acme.test>",
        "conversation_id": "c1",
        "item_id": "AAMk1",
        "body": "<p>Hi</p>",
    }
    base.update(overrides)
    return base


def test_parse_item_normalises_and_keys():
    item = parse_item(payload())
    assert item.key == "<m1@acme.test>"
    assert item.message.from_.address == "alice@acme.test"
    assert [p.valid for p in item.message.cc] == [False]
    assert item.message.body_text == "Hi"
    assert item.sent_at.isoformat() == "2026-11-20T09:30:41+00:00"


def test_fingerprint_when_message_id_is_missing_ignores_seconds_and_order():
    a = parse_item(
        payload(
            internet_message_id=None,
            date="2026-11-20T09:30:01Z",
            to=[{"address": "b@x.test"}, {"address": "a@x.test"}],
        )
    )
    b = parse_item(
        payload(
            internet_message_id="",
            date="2026-11-20T09:30:59Z",
            to=[{"address": "a@x.test"}, {"address": "B@x.test"}],
        )
    )
    assert a.key.startswith("fp:") and a.key == b.key
    c = parse_item(payload(internet_message_id=None, subject="Other"))
    assert c.key != a.key


def test_fingerprint_is_the_same_whatever_time_zone_the_date_comes_in():
    """The background sync reads the time in UTC; a pane (or another client) sending a local
    offset must still produce the same fingerprint, or the email would be saved twice."""
    utc = parse_item(payload(internet_message_id=None, date="2026-11-20T09:30:01Z"))
    local = parse_item(payload(internet_message_id=None, date="2026-11-20T10:30:01+01:00"))
    assert utc.key == local.key
    assert local.sent_at.utcoffset().total_seconds() == 0


@pytest.mark.parametrize(
    ("raw", "text"),
    [
        ("<b>bold</b> &amp; <i>it</i>", "bold & it"),
        ("<script>alert(1)</script>kept", "kept"),
        ("<style>p{}</style><p>one</p>\n\n\n\n<p>two</p>", "one\n\ntwo"),
        ("plain\ttext   with  spaces", "plain text with spaces"),
    ],
)
def test_body_text(raw, text):
    assert body_text(raw) == text


@given(st.text(max_size=3000))
def test_body_text_never_fails_and_is_capped(raw):
    out = body_text(raw)
    assert len(out) <= MAX_BODY_STORED


@pytest.mark.parametrize(
    "bad",
    [
        None,
        [],
        "x",
        {"from": "alice@acme.test"},
        {"from": {"address": ""}},
        {"from": {"address": "x@y.test"}, "date": "not a date"},
    ],
)
def test_parse_item_refuses_bad_shapes(bad):
    with pytest.raises(ApiError) as caught:
        parse_item(bad)
    assert 400 <= caught.value.status < 500


@pytest.mark.parametrize(
    ("address", "display", "name"),
    [
        ("jane.doe@x.test", "", "Jane Doe"),
        ("jane_doe-smith@x.test", "", "Jane Doe Smith"),
        ("j2@x.test", "", "j2"),
        ("x@x.test", "Jane  Q.  Public", "Jane Q. Public"),
        ("x@x.test", "x@x.test", "X"),
    ],
)
def test_guess_name(address, display, name):
    assert guess_name(address, display) == name


@pytest.mark.parametrize(
    ("address", "company"),
    [
        ("a@mail.unknown-prospect.com", "Unknown Prospect"),
        ("a@unknown-prospect.test", "Unknown Prospect"),
        ("a@acme.co.uk", "Acme"),
    ],
)
def test_guess_company(address, company):
    assert guess_company(address) == company


def test_fingerprint_matches_the_background_sync_for_an_untidy_subject():
    """Without an internetMessageId the pane and the sync must compute the same key from the
    same email, also when the subject has tabs or is longer than what is shown."""
    from server.mail.base import Message
    from server.sync.decide import key_of_message

    subject = "Offer\tfor Q3 " + "x" * 300
    item = parse_item(payload(internet_message_id=None, subject=subject))
    synced = Message(
        id="AAMk",
        internet_message_id="",
        conversation_id="",
        subject=subject,
        sender=item.message.from_,
        from_=item.message.from_,
        to=item.message.to,
        cc=item.message.cc,
        received_at=item.sent_at,
        sent_at=item.sent_at,
    )
    assert item.key == key_of_message(synced)


def test_graph_facts_give_a_withheld_item_the_sync_key_and_its_sent_date():
    """A recently sent item without internetMessageId, dated only by dateTimeCreated: completed
    from Graph, it gets the key and the date the sync computes for the same message."""
    from datetime import UTC, datetime

    from server.pane.items import with_graph_facts
    from server.rules.keys import email_key

    pane = parse_item(payload(internet_message_id=None, date=None, created="2026-11-20T09:23:00Z"))
    assert pane.key.startswith("fp:")  # Office gave nothing better
    assert pane.key == email_key(
        "",
        "alice@acme.test",
        ["me@us.test", "not an address"],
        "Hello",
        datetime(2026, 11, 20, 9, 23, tzinfo=UTC),
    )
    sent = datetime(2026, 11, 20, 9, 30, 41, tzinfo=UTC)
    done = with_graph_facts(pane, "<m1@acme.test>", sent)
    assert done.key == "<m1@acme.test>"
    assert done.sent_at == sent and done.message.sent_at == sent
    assert done.created_at == pane.created_at
    # Graph knows the date but not the id (a draft): the fingerprint takes the sent minute.
    dated = with_graph_facts(pane, "", sent)
    assert dated.key == email_key(
        "", "alice@acme.test", ["me@us.test", "not an address"], "Hello", sent
    )


def test_created_must_be_a_date():
    with pytest.raises(ApiError) as raised:
        parse_item(payload(created="yesterday"))
    assert raised.value.code == "invalid_date"
