"""The sandbox's Graph speaks Graph's documented shapes, checks tokens, and labels every
generated item with its intended outcome."""

from __future__ import annotations

from collections import Counter

import pytest

from server.sandbox import identity_state
from server.sandbox.directory import DEMO_USERS, OTHER_TENANT_ID
from server.sandbox.identity_state import GRAPH_RESOURCE

ALEX, BIANCA = DEMO_USERS[0], DEMO_USERS[1]
OLGA = next(u for u in DEMO_USERS if u.tenant_id == OTHER_TENANT_ID)


def _token(sandbox, user) -> str:
    with sandbox.app.app_context():
        token, _ = identity_state.access_token(
            identity_state.state(),
            sandbox.url,
            user,
            "courier-dev-client",
            GRAPH_RESOURCE,
            ["Mail.Read"],
        )
    return token


def _get(sandbox, path, user=ALEX, token=None, **headers):
    token = token if token is not None else _token(sandbox, user)
    return sandbox.http.get(
        f"{sandbox.url}/graph/v1.0{path}",
        headers={"Authorization": f"Bearer {token}", **headers},
        timeout=30,
    )


@pytest.fixture
def graph(sandbox):
    sandbox.control("/_sandbox/graph/configure", {"messages": 500, "events": 40, "seed": 3})
    return sandbox


def _labels(sandbox, user=ALEX) -> dict:
    return sandbox.http.get(
        f"{sandbox.url}/_sandbox/graph/labels", params={"user": user.email}
    ).json()


def test_tokens_are_checked_and_mailboxes_are_private(graph):
    missing = graph.http.get(f"{graph.url}/graph/v1.0/me")
    assert missing.status_code == 401
    assert missing.json()["error"]["code"] == "InvalidAuthenticationToken"
    assert _get(graph, "/me", token="forged").status_code == 401
    assert _get(graph, "/me").json()["mail"] == ALEX.email
    other_mailbox = _get(graph, f"/users/{ALEX.object_id}/mailFolders/inbox", user=BIANCA)
    assert other_mailbox.status_code == 403
    assert other_mailbox.json()["error"]["code"] == "ErrorAccessDenied"
    assert _get(graph, f"/users/{ALEX.object_id}", user=OLGA).status_code == 403


def test_delta_uses_graph_paging_shapes_and_the_default_page_of_ten(graph):
    folder = _get(graph, "/me/mailFolders/inbox").json()
    first = _get(graph, f"/me/mailFolders/{folder['id']}/messages/delta").json()
    assert len(first["value"]) == 10 and "@odata.nextLink" in first
    assert "internetMessageHeaders" not in first["value"][0]  # only when $select asks
    url = first["@odata.nextLink"]
    pages = 1
    while "@odata.nextLink" in (
        body := graph.http.get(
            url,
            headers={
                "Authorization": f"Bearer {_token(graph, ALEX)}",
                "Prefer": "odata.maxpagesize=100",
            },
        ).json()
    ):
        url = body["@odata.nextLink"]
        pages += 1
    assert "@odata.deltaLink" in body
    graph.control("/_sandbox/graph/invalidate", {})
    lost = graph.http.get(
        body["@odata.deltaLink"], headers={"Authorization": f"Bearer {_token(graph, ALEX)}"}
    )
    assert lost.status_code == 410 and lost.json()["error"]["code"] == "SyncStateNotFound"


def test_every_item_is_labelled_and_the_mailbox_has_every_kind(graph):
    labels = _labels(graph)
    assert len(labels["messages"]) == 500
    kinds = Counter(label["category"] for label in labels["messages"].values())
    for kind in (
        "thread",
        "outbound",
        "newsletter",
        "auto_reply",
        "internal",
        "personal",
        "unknown_company",
        "junk",
        "custom_folder",
    ):
        assert kinds[kind] > 0, kind
    saved = [lb for lb in labels["messages"].values() if lb["outcome"] == "save"]
    assert saved and all(lb["people"] and lb["accounts"] for lb in saved)
    events = Counter(label["kind"] for label in labels["events"].values())
    for kind in ("external", "recurring", "private", "internal", "shared"):
        assert events[kind] > 0, kind
    assert labels["policy"]["auto_save"] == "all"


def test_the_mailbox_is_deterministic(graph):
    first = _labels(graph)
    graph.control("/_sandbox/graph/configure", {"messages": 500, "events": 40, "seed": 3})
    assert _labels(graph) == first
    graph.control("/_sandbox/graph/configure", {"messages": 500, "events": 40, "seed": 4})
    assert _labels(graph) != first


def test_shared_meetings_have_the_same_ical_uid_in_both_calendars(graph):
    alex = {uid for uid, lb in _labels(graph, ALEX)["events"].items() if lb["kind"] == "shared"}
    bianca = {uid for uid, lb in _labels(graph, BIANCA)["events"].items() if lb["kind"] == "shared"}
    assert alex & bianca


def test_faults_are_served_with_graph_error_bodies(graph):
    graph.control("/_sandbox/graph/faults", {"throttle_rate": 1.0, "retry_after": "2.128"})
    answer = _get(graph, "/me")
    assert answer.status_code == 429 and answer.headers["Retry-After"] == "2.128"
    assert answer.json()["error"]["code"] == "TooManyRequests"
    graph.control("/_sandbox/graph/faults", {"unavailable_rate": 1.0})
    assert _get(graph, "/me").status_code == 503


def test_a_subscription_needs_the_validation_handshake(graph):
    answer = graph.http.post(
        f"{graph.url}/graph/v1.0/subscriptions",
        json={
            "changeType": "created",
            "resource": f"/users/{ALEX.object_id}/messages",
            "notificationUrl": "http://127.0.0.1:9/nowhere",
            "clientState": "x",
            "expirationDateTime": "2099-01-01T00:00:00Z",
        },
        headers={"Authorization": f"Bearer {_token(graph, ALEX)}"},
    )
    assert answer.status_code == 400
    assert answer.json()["error"]["code"] == "ValidationError"
