"""Graph JSON batching: the sandbox's $batch with the documented semantics (per-request
status, 424 for a failed dependency, answers in any order, at most 20 requests, 429 items
with their own Retry-After) and the client's use of it (throttled items retried, items that
keep failing handed back to be read alone)."""

from __future__ import annotations

import time

import pytest

from server.mail.graph_batch import BatchGet
from tests.integration.test_graph_client import ALEX, _client, _token


@pytest.fixture
def graph(sandbox):
    sandbox.control("/_sandbox/graph/configure", {"messages": 60, "events": 6, "seed": 5})
    return sandbox


def _post_batch(graph, requests_: list[dict]):
    return graph.http.post(
        f"{graph.url}/graph/v1.0/$batch",
        json={"requests": requests_},
        headers={"Authorization": f"Bearer {_token(graph)}"},
        timeout=30,
    )


def test_each_request_has_its_own_status_and_a_failed_dependency_is_424(graph):
    answer = _post_batch(
        graph,
        [
            {"id": "1", "method": "GET", "url": f"/users/{ALEX.object_id}"},
            {"id": "2", "method": "GET", "url": "/users/nobody-here"},
            {"id": "3", "method": "GET", "url": "/me", "dependsOn": ["2"]},
            {"id": "4", "method": "GET", "url": "/me/mailFolders", "dependsOn": ["1"]},
        ],
    )
    assert answer.status_code == 200  # the envelope, whatever the requests did
    responses = answer.json()["responses"]
    by_id = {r["id"]: r for r in responses}
    assert [r["id"] for r in responses] != ["1", "2", "3", "4"]  # any order: match by id
    assert by_id["1"]["status"] == 200 and by_id["1"]["body"]["mail"] == ALEX.email
    assert by_id["2"]["status"] == 404 and by_id["2"]["body"]["error"]["code"]
    assert by_id["3"]["status"] == 424
    assert by_id["4"]["status"] == 200 and by_id["4"]["body"]["value"]


@pytest.mark.parametrize(
    "requests_",
    [
        [{"id": str(i), "method": "GET", "url": "/me"} for i in range(21)],
        [{"id": "a", "method": "GET", "url": "/me"}, {"id": "A", "method": "GET", "url": "/me"}],
        [{"id": "1", "method": "GET", "url": "/me", "dependsOn": ["9"]}],
        [{"method": "GET", "url": "/me"}],
    ],
    ids=["more-than-20", "duplicate-id", "unknown-dependency", "no-id"],
)
def test_a_malformed_batch_is_a_400(graph, requests_):
    answer = _post_batch(graph, requests_)
    assert answer.status_code == 400
    assert answer.json()["error"]["code"] == "BadRequest"


def _folder_calls(client) -> list[BatchGet]:
    folders = client.resolve_folders(["inbox", "sentitems", "Clients"])
    return [BatchGet(f.name, client.message_delta_url(f.id, None)) for f in folders]


def test_throttled_requests_in_a_batch_are_retried_after_their_retry_after(graph):
    client = _client(graph)
    calls = _folder_calls(client)
    graph.control("/_sandbox/graph/faults", {"batch_item_throttles": 2, "retry_after": "0.3"})
    before, started = client.stats.requests, time.monotonic()
    bodies = client.get_batch(calls)
    assert time.monotonic() - started >= 0.3
    assert client.stats.requests - before == 2  # the batch, then one with the 2 throttled
    assert all(body is not None and "value" in body for body in bodies.values())
    kinds = graph.control("/_sandbox/graph/stats", method="GET")["by_kind"]
    assert kinds["fault_throttle_in_batch"] == 2


def test_requests_throttled_for_too_long_are_handed_back_not_raised(graph):
    client = _client(graph, max_wait=5)
    calls = _folder_calls(client)
    graph.control("/_sandbox/graph/faults", {"batch_item_throttles": 2, "retry_after": "120"})
    bodies = client.get_batch(calls)
    assert sum(body is None for body in bodies.values()) == 2
    assert sum(body is not None for body in bodies.values()) == len(calls) - 2


def test_more_than_20_requests_go_in_several_batches(graph):
    client = _client(graph)
    folder = client.resolve_folders(["inbox"])[0]
    url = client.message_delta_url(folder.id, None)
    before = client.stats.requests
    bodies = client.get_batch([BatchGet(str(i), url) for i in range(45)])
    assert client.stats.requests - before == 3
    assert len(bodies) == 45 and all(body is not None for body in bodies.values())


def test_links_in_batched_answers_point_where_the_batch_was_sent(graph):
    client = _client(graph)
    bodies = client.get_batch(_folder_calls(client))
    links = [
        body.get("@odata.deltaLink") or body.get("@odata.nextLink") for body in bodies.values()
    ]
    assert links and all(link.startswith(f"{graph.url}/graph/v1.0/") for link in links), links
