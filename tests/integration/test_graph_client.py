"""The Graph client over HTTPS against the sandbox: folders, paging, retries, lost delta
state, refused tokens, timeouts and the per-mailbox limit of 4 requests in flight."""

from __future__ import annotations

import math
import threading
from datetime import UTC, datetime, timedelta

import pytest

from server.http import make_http_session
from server.mail.base import Message
from server.mail.graph import (
    DeltaStateLost,
    GraphAuthError,
    GraphClient,
    GraphUnavailable,
    calendar_window,
)
from server.sandbox import identity_state
from server.sandbox.directory import DEMO_USERS
from server.sandbox.identity_state import GRAPH_RESOURCE

ALEX = DEMO_USERS[0]


def _token(sandbox, user=ALEX) -> str:
    with sandbox.app.app_context():
        token, _ = identity_state.access_token(
            identity_state.state(),
            sandbox.url,
            user,
            "courier-dev-client",
            GRAPH_RESOURCE,
            ["Mail.Read", "Calendars.Read", "User.Read"],
        )
    return token


def _client(sandbox, **options) -> GraphClient:
    options.setdefault("backoff_base", 0.01)
    return GraphClient(
        f"{sandbox.url}/graph/v1.0",
        _token(sandbox),
        ALEX.object_id,
        session=make_http_session(ca_bundle=sandbox.ca_bundle, timeout=10),
        **options,
    )


@pytest.fixture
def graph(sandbox):
    sandbox.control("/_sandbox/graph/configure", {"messages": 300, "events": 40, "seed": 5})
    return sandbox


def _read_all(client: GraphClient, folder, since=None) -> tuple[list[Message], str]:
    url = client.message_delta_url(folder.id, since, client.folder_total(folder.id))
    items: list[Message] = []
    while True:
        page = client.message_delta_page(url, folder.name, since)
        items += page.items
        if page.delta_link:
            return items, page.delta_link
        url = page.next_link


def test_user_addresses_include_the_proxy_addresses(graph):
    assert _client(graph).user_addresses() == [ALEX.email, *ALEX.aliases]


def test_folders_by_well_known_name_and_by_final_display_name(graph):
    client = _client(graph)
    found = client.resolve_folders(["Inbox", "sentitems", "inbox/CLIENTS", "No such folder"])
    assert [f.name for f in found] == ["inbox", "sentitems", "Clients"]
    assert all(f.id for f in found)


def test_delta_pages_cost_the_minimum_number_of_requests(graph):
    client = _client(graph, page_size=7)
    inbox = client.resolve_folders(["inbox"])[0]
    labels = graph.http.get(
        f"{graph.url}/_sandbox/graph/labels", params={"user": ALEX.email}
    ).json()["messages"]
    in_inbox = [lb for lb in labels.values() if lb["folder"] == "inbox" and lb["category"] != "old"]
    since = datetime.now(UTC) - timedelta(days=30)
    before = client.stats.requests
    items, delta_link = _read_all(client, inbox, since)
    assert len(items) == len(in_inbox)  # the window's filter drops the old ones
    # The folder's count (is the filter safe?), then full pages only.
    assert client.stats.requests - before == 1 + math.ceil(len(items) / 7)
    assert all(m.headers.get("message-id") for m in items if m.internet_message_id)
    # A new round from the delta link: nothing, then the new mail.
    assert client.message_delta_page(delta_link, "inbox").items == []
    graph.control(f"/_sandbox/graph/users/{ALEX.object_id}/messages", {"subject": "Fresh"})
    assert [m.subject for m in client.message_delta_page(delta_link, "inbox").items] == ["Fresh"]


def test_calendar_view_delta_over_a_window(graph):
    client = _client(graph, page_size=5)
    start, end = calendar_window(datetime.now(UTC), 30, 90)
    url, events = client.calendar_delta_url(start, end), []
    while url:
        page = client.event_delta_page(url)
        events += page.items
        url = page.next_link
    # Occurrences of a series come without iCalUId: they carry their master's instead.
    assert events and all((e.ical_uid or e.series_uid) and e.start for e in events)
    assert any(e.sensitivity == "private" for e in events)
    assert any(e.series_master_id and e.series_uid and e.subject for e in events)


def test_429_and_503_are_retried_honouring_retry_after(graph):
    graph.control(
        "/_sandbox/graph/faults",
        {"throttle_rate": 0.3, "unavailable_rate": 0.2, "reset_rate": 0.1, "seed": 9},
    )
    client = _client(graph, page_size=50, max_retries=20)
    inbox = client.resolve_folders(["inbox"])[0]
    items, _ = _read_all(client, inbox)
    assert items and client.stats.retries > 0


def test_retry_after_beyond_the_limit_gives_up(graph):
    graph.control("/_sandbox/graph/faults", {"throttle_rate": 1.0, "retry_after": "120"})
    with pytest.raises(GraphUnavailable) as raised:
        _client(graph, max_wait=5).user_addresses()
    assert raised.value.status == 429 and raised.value.retry_after == 120


def test_an_invalidated_delta_token_raises_delta_state_lost(graph):
    client = _client(graph)
    inbox = client.resolve_folders(["inbox"])[0]
    _, delta_link = _read_all(client, inbox)
    graph.control("/_sandbox/graph/invalidate", {})
    with pytest.raises(DeltaStateLost):
        client.message_delta_page(delta_link, "inbox")


def test_a_refused_token_raises_graph_auth_error(graph):
    client = _client(graph)
    client.token = "not-a-token"
    with pytest.raises(GraphAuthError):
        client.user_addresses()


def test_slow_responses_time_out_and_are_retried_then_give_up(graph):
    graph.control("/_sandbox/graph/faults", {"slow_rate": 1.0, "slow_ms": 1500})
    client = _client(graph, timeout=0.3, max_retries=1)
    with pytest.raises(GraphUnavailable):
        client.user_addresses()
    assert client.stats.requests == 2


def test_at_most_four_requests_in_flight_per_mailbox(graph):
    graph.control("/_sandbox/graph/faults", {"slow_rate": 1.0, "slow_ms": 150})
    graph.control("/_sandbox/graph/stats/reset")
    clients = [_client(graph) for _ in range(10)]
    threads = [threading.Thread(target=c.user_addresses) for c in clients]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    stats = graph.control("/_sandbox/graph/stats", method="GET")
    assert stats["requests"] == 10
    assert stats["max_in_flight"] == 4


def _labels(sandbox) -> dict:
    return sandbox.http.get(
        f"{sandbox.url}/_sandbox/graph/labels", params={"user": ALEX.email}, timeout=60
    ).json()["messages"]


def test_a_folder_over_the_filtered_delta_cap_is_read_whole(sandbox):
    """Graph's delta with $filter stops at 5,000 messages without saying so: an inbox with
    more in the window is read without the filter, the window applied by the client."""
    sandbox.control("/_sandbox/graph/configure", {"messages": 9000, "events": 0, "seed": 5})
    client = _client(sandbox, page_size=1000)
    inbox = client.resolve_folders(["inbox"])[0]
    wanted = {
        lb["id"]
        for lb in _labels(sandbox).values()
        if lb["folder"] == "inbox" and lb["category"] != "old"
    }
    assert len(wanted) > 5000
    since = datetime.now(UTC) - timedelta(days=30)
    before = client.stats.requests
    items, _ = _read_all(client, inbox, since)
    assert {m.id for m in items} == wanted
    assert client.stats.requests - before == 1 + math.ceil(inbox.total / 1000)
    # The sandbox enforces the documented cap on a filtered round.
    url, served = client.message_delta_url(inbox.id, since, folder_total=0), 0
    while url:
        page = client.message_delta_page(url, "inbox", since)
        served += len(page.items)
        url = page.next_link
    assert served == 5000


@pytest.mark.parametrize("status", [400, 404, 410])
def test_a_lost_delta_state_is_recognised_on_every_documented_status(graph, status):
    client = _client(graph)
    inbox = client.resolve_folders(["inbox"])[0]
    _, delta_link = _read_all(client, inbox)
    graph.control("/_sandbox/graph/faults", {"lost_state_status": status})
    graph.control("/_sandbox/graph/invalidate", {})
    with pytest.raises(DeltaStateLost) as raised:
        client.message_delta_page(delta_link, "inbox")
    assert raised.value.status == status and raised.value.code == "SyncStateNotFound"


def test_html_bodies_arrive_as_text_and_sent_items_without_headers(graph):
    client = _client(graph, page_size=100)
    inbox, sent = client.resolve_folders(["inbox", "sentitems"])
    items, _ = _read_all(client, inbox)
    sent_items, _ = _read_all(client, sent)
    bodies = [m.body_text for m in items + sent_items if "Following up" in m.body_text]
    assert bodies and not any("<" in b or "&" in b for b in bodies)
    assert bodies[0].startswith("Hello,\n\nFollowing up on ")
    assert sent_items and all(m.headers == {} for m in sent_items)


def test_partial_update_entries_are_counted_not_taken_for_messages(graph):
    client = _client(graph, page_size=50)
    inbox = client.resolve_folders(["inbox"])[0]
    items, delta_link = _read_all(client, inbox)
    for message in items[:3]:
        graph.control(f"/_sandbox/graph/users/{ALEX.object_id}/messages/{message.id}/read")
    graph.control(f"/_sandbox/graph/users/{ALEX.object_id}/messages", {"subject": "Fresh"})
    page = client.message_delta_page(delta_link, "inbox")
    assert [m.subject for m in page.items] == ["Fresh"]
    assert page.ignored == {"updated_only": 3} and not page.skipped
