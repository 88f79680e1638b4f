"""Bad data from Graph becomes a skipped item or a screened message, never an exception."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from server.mail.graph_errors import is_delta_state_lost
from server.mail.graph_parse import (
    MAX_BODY_CHARS,
    MAX_HEADERS,
    Skipped,
    is_partial_update,
    parse_datetime,
    parse_event,
    parse_message,
)


@pytest.mark.parametrize("raw", [None, [], "text", 42, {}])
def test_payloads_that_are_not_objects_are_skipped(raw):
    assert isinstance(parse_message(raw, "inbox"), Skipped)
    assert isinstance(parse_event(raw), Skipped)


def test_missing_fields_give_an_empty_but_valid_message():
    message = parse_message({"id": "m1"}, "inbox")
    assert message.internet_message_id == "" and message.from_ is None
    assert message.to == [] and message.headers == {} and message.received_at is None


def test_invalid_addresses_become_invalid_participants():
    message = parse_message(
        {
            "id": "m1",
            "from": {"emailAddress": {"address": "not an address"}},
            "toRecipients": [
                {"emailAddress": {"address": "a@b.test"}},
                "junk",
                {"emailAddress": None},
            ],
        },
        "inbox",
    )
    assert message.from_ is not None and not message.from_.valid
    assert [p.address for p in message.to] == ["a@b.test"]


def test_enormous_headers_and_bodies_are_cut():
    message = parse_message(
        {
            "id": "m1",
            "body": {"content": "x" * (MAX_BODY_CHARS * 3)},
            "internetMessageHeaders": [
                {"name": f"X-{n}", "value": "y" * 100_000} for n in range(MAX_HEADERS * 2)
            ]
            + ["oops", {"value": 1}],
        },
        "inbox",
    )
    assert len(message.body_text) == MAX_BODY_CHARS
    assert len(message.headers) == MAX_HEADERS
    assert all(len(v) <= 2_000 for v in message.headers.values())


def test_repeated_headers_are_joined_and_names_lower_cased():
    message = parse_message(
        {
            "id": "m",
            "internetMessageHeaders": [
                {"name": "Received", "value": "a"},
                {"name": "RECEIVED", "value": "b"},
            ],
        },
        "inbox",
    )
    assert message.headers == {"received": "a, b"}


def test_non_utf8_bytes_and_odd_types_do_not_raise():
    message = parse_message({"id": "m", "subject": b"caf\xff", "conversationId": 12}, "inbox")
    assert message.subject == "caf\ufffd" and message.conversation_id == "12"


@pytest.mark.parametrize(
    "value, expected",
    [
        ("2026-01-02T03:04:05Z", datetime(2026, 1, 2, 3, 4, 5, tzinfo=UTC)),
        ("2026-01-02T03:04:05.1234567", datetime(2026, 1, 2, 3, 4, 5, 123456, tzinfo=UTC)),
        (
            {"dateTime": "2026-01-02T03:04:05.0000000", "timeZone": "UTC"},
            datetime(2026, 1, 2, 3, 4, 5, tzinfo=UTC),
        ),
        ("yesterday", None),
        (None, None),
        (5, None),
    ],
)
def test_dates(value, expected):
    assert parse_datetime(value) == expected


def test_an_event_without_ical_uid_is_skipped_with_a_reason():
    skipped = parse_event({"id": "e1"})
    assert isinstance(skipped, Skipped) and skipped.reason == "missing_ical_uid"


@pytest.mark.parametrize(
    ("status", "code", "lost"),
    [
        (410, "SyncStateNotFound", True),  # real bodies
        (400, "SyncStateNotFound", True),
        (404, "syncStateNotFound", True),  # the docs' spelling
        (400, "RESYNCREQUIRED", True),
        (410, "", True),  # a bare 410 Gone: restart
        (400, "BadRequest", False),
        (404, "ErrorItemNotFound", False),
        (429, "SyncStateNotFound", False),
    ],
)
def test_lost_delta_state_is_recognised_by_code_without_case(status, code, lost):
    assert is_delta_state_lost(status, code) is lost


@pytest.mark.parametrize(
    ("raw", "partial"),
    [
        ({"id": "a", "isRead": True, "parentFolderId": "f"}, True),
        ({"id": "a", "@odata.etag": "x", "changeKey": "k"}, True),
        ({"id": "a", "subject": "Only the subject changed"}, True),
        ({"id": "a", "receivedDateTime": "2026-01-02T03:04:05Z"}, False),
        ({"id": "a", "sender": {"emailAddress": {"address": "x@y.test"}}}, False),
        ({"id": "a", "@removed": {"reason": "deleted"}}, False),
        ("not an object", False),
    ],
)
def test_partial_update_entries(raw, partial):
    assert is_partial_update(raw) is partial


def test_an_html_body_becomes_text():
    message = parse_message(
        {
            "id": "m",
            "receivedDateTime": "2026-01-02T03:04:05Z",
            "body": {
                "contentType": "HTML",
                "content": "<div>a &lt;b&gt;<br>c</div><style>x</style>",
            },
        },
        "inbox",
    )
    assert message.body_text == "a <b>\nc"
