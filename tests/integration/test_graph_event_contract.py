"""Contract: calendar events as Microsoft documents them (tests/contract_fixtures/graph/
events_*.json, sources in events_README.md) are served unchanged by the sandbox's Graph and
read by our client into the right meetings; the sandbox's own recurring series have exactly
the documented fields per event type."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from pathlib import Path

import pytest

from server.http import make_http_session
from server.mail.base import Event
from server.mail.graph import GraphClient, GraphError
from server.rules.keys import occurrence_key
from server.sandbox.directory import DEMO_USERS
from server.sync.decide import key_of_event, series_of_event
from tests.integration.test_graph_client import _token

ALEX = DEMO_USERS[0]
FIXTURES = Path(__file__).parents[1] / "contract_fixtures" / "graph"
WINDOW = (datetime(2026, 11, 5, tzinfo=UTC), datetime(2026, 12, 5, tzinfo=UTC))
SERIES_A = (
    "040000008200E00074C5B7101A82E00800000000A0C1A4B8A0B8DC01000000000000000010000000"
    "A0D5B2A495DFA73A8C16B0A7D5E2B000"
)
SERIES_B = (
    "040000008200E00074C5B7101A82E00800000000B0C2A4B8A0B8DC01000000000000000010000000"
    "C2F7D4C6B7F1C95CAE38D2C9F704D002"
)


def fixture(name: str) -> dict:
    return json.loads((FIXTURES / name).read_text())


def _utc(text: str) -> datetime:
    return datetime.fromisoformat(text).replace(tzinfo=UTC)


# What the documented page must become: (key, start, subject, cancelled, series key).
EXPECTED = {
    "AAMkADNVxRAAA=": (None, "2026-11-12T10:00", "Pricing call", False, ""),
    "AAMkADSeriesB-occ1=": (
        occurrence_key(SERIES_B, _utc("2026-11-10T09:00")),
        "2026-11-10T09:00",
        "Onboarding check-in",
        False,
        SERIES_B,
    ),
    "AAMkADSeriesB-occ2=": (
        occurrence_key(SERIES_B, _utc("2026-11-17T09:00")),
        "2026-11-17T09:00",
        "Onboarding check-in",
        False,
        SERIES_B,
    ),
    "AAMkADSeriesA-occ2=": (
        occurrence_key(SERIES_A, _utc("2026-11-16T15:00")),
        "2026-11-16T15:00",
        "Quarterly review",
        False,
        SERIES_A,
    ),
    # Moved by a day: keyed by where the series put it (originalStart), dated where it is.
    "AAMkADSeriesA-occ3=": (
        occurrence_key(SERIES_A, _utc("2026-11-23T15:00")),
        "2026-11-24T16:00",
        "Quarterly review (moved)",
        False,
        SERIES_A,
    ),
    "AAMkADSeriesA-occ4=": (
        occurrence_key(SERIES_A, _utc("2026-11-30T15:00")),
        "2026-11-30T15:00",
        "Canceled: Quarterly review",
        True,
        SERIES_A,
    ),
}


def _seen(event: Event) -> tuple:
    return (
        key_of_event(event),
        event.start.strftime("%Y-%m-%dT%H:%M"),
        event.subject,
        event.cancelled,
        series_of_event(event),
    )


def _expected(event_id: str) -> tuple:
    key, *rest = EXPECTED[event_id]
    return (key or fixture_uid(event_id), *rest)


def fixture_uid(event_id: str) -> str:
    page = fixture("events_delta_series_page.json")
    return next(e["iCalUId"] for e in page["value"] if e["id"] == event_id)


@pytest.fixture
def documented_calendar(sandbox):
    """Alex's calendar holds the documented events (and the master not in the page)."""
    page = fixture("events_delta_series_page.json")
    events = [fixture("events_get_series_master.json")] + [
        e for e in page["value"] if "@removed" not in e
    ]
    sandbox.control(
        f"/_sandbox/graph/users/{ALEX.object_id}/calendar", {"events": events}, method="PUT"
    )
    return page


def _client(sandbox) -> GraphClient:
    return GraphClient(
        f"{sandbox.url}/graph/v1.0",
        _token(sandbox),
        ALEX.object_id,
        session=make_http_session(ca_bundle=sandbox.ca_bundle, timeout=10),
    )


def test_the_sandbox_serves_the_documented_page_as_documented(sandbox, documented_calendar):
    client = _client(sandbox)
    served = client.get(client.calendar_delta_url(*WINDOW))
    wanted = [e for e in documented_calendar["value"] if "@removed" not in e]
    assert served["value"] == wanted  # the master outside the window is not in the delta
    assert "@odata.deltaLink" in served
    master = client.get(f"users/{ALEX.object_id}/events/AAMkADSeriesA=")
    assert {k: v for k, v in master.items() if not k.startswith("@odata.context")} == {
        k: v
        for k, v in fixture("events_get_series_master.json").items()
        if not k.startswith("@odata.context")
    }


def test_the_client_reads_the_documented_page_into_the_real_occurrences(
    sandbox, documented_calendar
):
    client = _client(sandbox)
    page = client.event_delta_page(client.calendar_delta_url(*WINDOW))
    got = {event.id: _seen(event) for event in page.items}
    assert got == {event_id: _expected(event_id) for event_id in EXPECTED}
    assert page.skipped == []  # the master is no meeting, and not an error either
    # The exception keeps its own attendees; occurrences take the master's.
    by_id = {e.id: e for e in page.items}
    assert [a.participant.address for a in by_id["AAMkADSeriesA-occ3="].attendees] == [
        "dana@fabrikam.example",
        "finn@fabrikam.example",
    ]
    assert by_id["AAMkADSeriesB-occ2="].organizer.address == "eli@fabrikam.example"
    # One delta request, one GET for the master not in the page (series B's came with it).
    assert client.stats.requests == 2
    # An occurrence read alone (as after a removal notice) is the same meeting.
    alone = client.get_event("AAMkADSeriesA-occ2=")
    assert alone is not None and _seen(alone) == _expected("AAMkADSeriesA-occ2=")
    assert client.stats.requests == 3  # the master was not read again


def test_the_documented_removal_is_reported_by_id():
    from server.mail.graph_delta import _delta_page

    page = _delta_page(fixture("events_delta_series_page.json"), lambda raw: raw)
    assert page.removed == ["AAMkADSeriesA-occ5="]


def test_the_sandboxs_own_series_have_the_documented_fields_per_type(sandbox):
    sandbox.control("/_sandbox/graph/configure", {"messages": 10, "events": 40, "seed": 5})
    documented: dict[str, list[set[str]]] = {}
    for event in fixture("events_delta_series_page.json")["value"]:
        if "@removed" not in event:
            documented.setdefault(event["type"], []).append(set(event))
    client = _client(sandbox)
    start, end = datetime(2000, 1, 1, tzinfo=UTC), datetime(2100, 1, 1, tzinfo=UTC)
    served = client.get(client.calendar_delta_url(start, end))["value"]
    by_type: dict[str, list[dict]] = {}
    for event in served:
        by_type.setdefault(event["type"], []).append(event)
    assert {"seriesMaster", "occurrence", "exception", "singleInstance"} <= set(by_type)
    for event in by_type["occurrence"]:
        # Exactly the sparse shape: nothing more (no iCalUId, no subject), nothing less.
        assert set(event) == documented["occurrence"][0], event
    # A full event has only documented properties (those our fixtures show of any full event).
    full = [*documented["seriesMaster"], *documented["exception"], *documented["singleInstance"]]
    allowed = set().union(*full, fixture("events_get_series_master.json")) - {"@odata.context"}
    for kind in ("seriesMaster", "exception", "singleInstance"):
        for event in by_type[kind]:
            assert set(event) <= allowed, (kind, set(event) - allowed)
            assert {"id", "iCalUId", "subject", "start", "end", "type"} <= set(event)
    for event in by_type["exception"]:
        assert {"seriesMasterId", "originalStart"} <= set(event)
    for event in by_type["seriesMaster"]:
        assert "recurrence" in event


def test_a_calendar_that_is_not_a_list_of_events_is_refused(sandbox):
    url = f"{sandbox.url}/_sandbox/graph/users/{ALEX.object_id}/calendar"
    for body in ({"events": "x"}, {"events": [{"id": 1}]}, {"events": [{"@removed": {}}]}):
        answer = sandbox.http.put(url, json=body, timeout=10)
        assert answer.status_code == 400 and answer.json()["error"] == "bad_events"


def _masters(sandbox) -> list[str]:
    from server.sandbox.graph_state import state

    with sandbox.app.app_context():
        box = state().mailbox(ALEX)
        return sorted(e for e, (_, ev) in box.events.items() if ev.get("type") == "seriesMaster")


def test_masters_missing_from_a_page_are_read_in_one_batch(sandbox):
    sandbox.control("/_sandbox/graph/configure", {"messages": 10, "events": 40, "seed": 5})
    client = _client(sandbox)
    masters = _masters(sandbox)
    assert len(masters) >= 3
    found = client._events_json([*masters, "AAMk-no-such-event"])
    assert client.stats.requests == 1
    assert all(found[m]["type"] == "seriesMaster" and found[m]["iCalUId"] for m in masters)
    assert found["AAMk-no-such-event"] is None


def test_a_throttled_item_of_a_batch_is_read_again_alone(sandbox):
    sandbox.control("/_sandbox/graph/configure", {"messages": 10, "events": 40, "seed": 5})
    masters = _masters(sandbox)
    sandbox.control("/_sandbox/graph/faults", {"throttle_rate": 0.5, "seed": 3})
    client = _client(sandbox)
    client.backoff_base = 0.01
    found = client._events_json(masters)
    stats = sandbox.control("/_sandbox/graph/stats", method="GET")
    # Each item of a batch meets the faults as its own request would.
    assert stats["by_kind"]["batch"] > 0 and stats["by_kind"].get("fault_throttle", 0) > 0
    assert all(found[m] is not None and found[m]["id"] == m for m in masters)


def test_a_malformed_batch_is_refused_whole(sandbox):
    client = _client(sandbox)
    item = {"id": "1", "method": "GET", "url": f"/users/{ALEX.object_id}/events/x"}
    for body in ({"requests": "x"}, {"requests": [item] * 2}, {"requests": [item] * 21}):
        with pytest.raises(GraphError) as raised:
            client.send("POST", "$batch", body=body)
        assert raised.value.status == 400


def _round(client, url: str) -> tuple[list[dict], str]:
    """Every entry of one delta round, and the round's deltaLink."""
    entries: list[dict] = []
    while True:
        page = client.get(url)
        entries.extend(page["value"])
        if "@odata.deltaLink" in page:
            return entries, page["@odata.deltaLink"]
        url = page["@odata.nextLink"]


def test_a_deleted_series_is_one_removal_of_its_master(sandbox):
    """Deleting a series: the next round reports the master removed, and nothing for its
    occurrences (Graph gives "no indication" of a deleted occurrence in a calendarView delta:
    microsoft-graph-docs#4501, #5520), which are then gone (404) like any deleted event."""
    sandbox.control("/_sandbox/graph/configure", {"messages": 0, "events": 40, "seed": 5})
    client = _client(sandbox)
    start, end = datetime(2000, 1, 1, tzinfo=UTC), datetime(2100, 1, 1, tzinfo=UTC)
    first, delta_link = _round(client, client.calendar_delta_url(start, end))
    master = next(e for e in first if e.get("type") == "seriesMaster")
    occurrences = [e["id"] for e in first if e.get("seriesMasterId") == master["id"]]
    assert len(occurrences) >= 2
    sandbox.control(f"/_sandbox/graph/users/{ALEX.object_id}/events/{master['id']}/delete")
    changes, _ = _round(client, delta_link)
    assert changes == [{"id": master["id"], "@removed": {"reason": "deleted"}}]
    assert all(client.get_event(event_id) is None for event_id in occurrences)
