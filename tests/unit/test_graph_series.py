"""Occurrences of recurring series: completed from their master, keyed the same in every
mailbox whatever shape Graph sent (sparse in a delta, full from GET), masters never saved."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from server.mail.base import Event
from server.mail.graph_events import SeriesMasters, without_masters
from server.mail.graph_parse import Skipped, parse_event
from server.rules.keys import MAX_KEY_LENGTH, occurrence_key
from server.sync.decide import event_draft, key_of_event

UID = "040000008200E00074C5B7101A82E0080000000012345"
MASTER = {
    "id": "master-1",
    "type": "seriesMaster",
    "iCalUId": UID,
    "subject": "Weekly sync",
    "body": {"contentType": "text", "content": "Agenda"},
    "organizer": {"emailAddress": {"address": "sam@contoso.example", "name": "Sam"}},
    "attendees": [{"type": "required", "emailAddress": {"address": "dana@fabrikam.example"}}],
    "isOrganizer": True,
    "start": {"dateTime": "2026-11-02T15:00:00.0000000", "timeZone": "UTC"},
    "end": {"dateTime": "2026-11-02T16:00:00.0000000", "timeZone": "UTC"},
    "recurrence": {"pattern": {"type": "weekly"}},
}


def _when(text: str) -> dict:
    return {"dateTime": f"{text}:00.0000000", "timeZone": "UTC"}


def sparse(event_id: str, start: str) -> dict:
    """An occurrence as a calendarView delta sends it (docs-contrib#34)."""
    moment = datetime.fromisoformat(start)
    return {
        "@odata.type": "#microsoft.graph.event",
        "id": event_id,
        "seriesMasterId": "master-1",
        "type": "occurrence",
        "start": _when(start),
        "end": _when((moment + timedelta(hours=1)).isoformat()[:16]),
    }


def test_a_sparse_occurrence_takes_the_masters_subject_people_and_body():
    event = parse_event(sparse("occ-1", "2026-11-09T15:00"), MASTER)
    assert isinstance(event, Event)
    assert (event.subject, event.body_text, event.organizer.address) == (
        "Weekly sync",
        "Agenda",
        "sam@contoso.example",
    )
    assert [a.participant.address for a in event.attendees] == ["dana@fabrikam.example"]
    assert event.start == datetime(2026, 11, 9, 15, tzinfo=UTC)
    assert key_of_event(event) == occurrence_key(UID, datetime(2026, 11, 9, 15, tzinfo=UTC))
    draft = event_draft(event, key_of_event(event), [], None)
    assert draft.series_key == UID and draft.start == event.start


def test_the_same_occurrence_in_two_mailboxes_and_two_shapes_has_one_key():
    mine = parse_event(sparse("AAMk-alex-occ", "2026-11-09T15:00"), MASTER)
    full = {
        **MASTER,
        **sparse("AAMk-bianca-occ", "2026-11-09T15:00"),
        "seriesMasterId": "bianca-master",
        "iCalUId": UID + "-occurrence-own",  # "different for each occurrence"
        "originalStart": "2026-11-09T15:00:00Z",
    }
    del full["recurrence"]
    theirs = parse_event(full, {**MASTER, "id": "bianca-master"})
    assert isinstance(mine, Event) and isinstance(theirs, Event)
    assert key_of_event(mine) == key_of_event(theirs)


def test_a_moved_exception_keeps_its_key_and_brings_its_own_fields():
    exception = {
        **sparse("occ-3", "2026-11-24T16:00"),
        "type": "exception",
        "originalStart": "2026-11-23T15:00:00.0000000Z",
        "iCalUId": "own-uid",
        "subject": "Weekly sync (moved)",
        "isCancelled": False,
        "attendees": [],
    }
    event = parse_event(exception, MASTER)
    unchanged = parse_event(sparse("occ-3", "2026-11-23T15:00"), MASTER)
    assert key_of_event(event) == key_of_event(unchanged)
    assert event.start == datetime(2026, 11, 24, 16, tzinfo=UTC)
    assert (event.subject, event.attendees) == ("Weekly sync (moved)", [])


def test_a_cancelled_occurrence_is_a_cancelled_meeting():
    event = parse_event({**sparse("occ-4", "2026-11-30T15:00"), "isCancelled": True}, MASTER)
    assert isinstance(event, Event) and event.cancelled


@pytest.mark.parametrize(
    ("raw", "master", "reason"),
    [
        (MASTER, None, "series_master"),
        (sparse("occ-1", "2026-11-09T15:00"), None, "missing_series_master"),
        (sparse("occ-1", "2026-11-09T15:00"), {"id": "master-1"}, "missing_series_master"),
        ({**sparse("occ-1", "2026-11-09T15:00"), "start": None}, MASTER, "missing_start"),
    ],
)
def test_what_cannot_be_an_occurrence_is_skipped_with_a_reason(raw, master, reason):
    skipped = parse_event(raw, master)
    assert isinstance(skipped, Skipped) and skipped.reason == reason


def test_masters_are_read_together_once_per_session_and_never_items():
    reads: list[list[str]] = []

    def read(master_ids: list[str]) -> dict[str, dict | None]:
        reads.append(master_ids)
        return {m: MASTER if m == "master-1" else None for m in master_ids}

    masters = SeriesMasters(read)
    page = [
        sparse("a", "2026-11-09T15:00"),
        sparse("b", "2026-11-16T15:00"),
        {**sparse("d", "2026-11-23T15:00"), "seriesMasterId": "gone"},
    ]
    masters.complete(page)
    masters.complete([sparse("c", "2026-11-23T15:00")])
    masters.complete([{**sparse("e", "2026-11-30T15:00"), "seriesMasterId": "gone"}])
    assert reads == [["gone", "master-1"]]
    assert masters.of(page[2]) is None
    assert masters.of(page[0]) is MASTER
    assert without_masters({"value": [MASTER, *page]})["value"] == page


def test_a_master_in_the_page_is_used_without_a_read():
    masters = SeriesMasters(lambda master_id: pytest.fail("read"))
    page = [MASTER, sparse("a", "2026-11-09T15:00")]
    masters.remember(page)
    masters.complete(page)
    assert masters.of(page[1]) is MASTER


def test_occurrence_keys_are_utc_and_bounded():
    here = datetime(2026, 11, 9, 16, tzinfo=UTC).astimezone()
    assert occurrence_key(UID, here) == f"{UID}#2026-11-09T16:00:00Z"
    assert len(occurrence_key("x" * 2000, here)) <= MAX_KEY_LENGTH
