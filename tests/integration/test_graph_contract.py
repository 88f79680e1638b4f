"""Contract fixtures (tests/contract_fixtures/graph, written after Microsoft's documented
examples): each runs through Courier's parsers, and the sandbox serves the same keys with the
same JSON types for the same request — so the client, the sandbox and the docs agree."""

from __future__ import annotations

import json
import threading
from datetime import UTC, datetime
from pathlib import Path

import pytest
from flask import Flask, request
from werkzeug.serving import make_server

from server.mail.graph import MESSAGE_FIELDS, GraphClient, parse_message_page
from server.mail.graph_errors import error_fields, is_delta_state_lost
from server.mail.graph_folders import addresses_of, folder_from
from server.mail.graph_parse import parse_message
from server.redis_server import free_port
from server.sandbox import identity_state
from server.sandbox.directory import DEMO_USERS
from server.sandbox.identity_state import GRAPH_RESOURCE
from server.sync.webhooks import granted_expiry

FIXTURES = Path(__file__).resolve().parents[1] / "contract_fixtures" / "graph"
ALEX = DEMO_USERS[0]
SELECTED = set(MESSAGE_FIELDS.split(","))


def fixture(name: str) -> dict:
    return json.loads((FIXTURES / name).read_text(encoding="utf-8"))


def shape(value):
    """JSON types, recursively; OData annotations ("@odata.*") left out: the docs' examples
    show some and not others."""
    if isinstance(value, dict):
        return {k: shape(v) for k, v in value.items() if not k.startswith("@odata.")}
    if isinstance(value, list):
        return [shape(value[0])] if value else []
    if isinstance(value, bool):
        return "boolean"
    if isinstance(value, int | float):
        return "number"
    return "null" if value is None else "string"


def assert_same_shape(documented, served, path="$"):
    """Same keys (OData annotations aside) and, where both sides have a value, the same
    types."""
    if isinstance(documented, dict) and isinstance(served, dict):
        documented = {k: v for k, v in documented.items() if not k.startswith("@odata.")}
        served = {k: v for k, v in served.items() if not k.startswith("@odata.")}
        assert set(documented) == set(served), (path, sorted(documented), sorted(served))
        for key in documented:
            assert_same_shape(documented[key], served[key], f"{path}.{key}")
    elif isinstance(documented, list) and isinstance(served, list):
        if documented and served:
            assert_same_shape(documented[0], served[0], f"{path}[0]")
    else:
        kinds = shape(documented), shape(served)
        assert kinds[0] == kinds[1] or "null" in kinds, (path, documented, served)


def _only(data: dict, keys: set[str]) -> dict:
    return {k: v for k, v in data.items() if k in keys}


# --- the fixtures through our parsers ------------------------------------------------------


def test_documented_delta_pages_parse_with_their_links():
    first = parse_message_page(fixture("mail_delta_first_page.json"), "inbox")
    assert first.next_link.endswith("$skiptoken=GwcBoTmPuoTQWfcsAbkYM") and not first.delta_link
    assert [m.id for m in first.items] == ["AAMkADNkNAAASq35xAAA=", "AQMkADNkNAAAVRMKAAAAA=="]
    assert first.items[0].sender.address == "danas@contoso.com"
    last = parse_message_page(fixture("mail_delta_last_page.json"), "inbox")
    assert last.delta_link.endswith("$deltatoken=GwcBoTmPuoGNlgXgF1nyUNMXY") and not last.next_link
    # The docs' next round: a removal, and an update carrying every field $select asked for.
    round_two = parse_message_page(fixture("mail_delta_next_round.json"), "inbox")
    assert round_two.removed == [
        "AAMkADk0MGFkODE3LWE4MmYtNDRhOS0Dh_6qB-pB2Sa2pUum19a6YAAKnLuxoAAA="
    ]
    assert [m.subject for m in round_two.items] == ["Holiday hours update"]
    assert not round_two.ignored
    partial = parse_message_page(fixture("mail_delta_partial_update.json"), "inbox")
    assert partial.items == [] and partial.ignored == {"updated_only": 1}


def test_the_documented_message_parses_with_its_html_body_as_text():
    message = parse_message(fixture("mail_message.json"), "inbox")
    assert message.internet_message_id == "<MWHPR6E1BE060@MWHPR1120.namprd22.prod.outlook.com>"
    assert message.from_.address == "adelev@contoso.onmicrosoft.com"
    assert [p.address for p in message.to] == ["alexw@contoso.onmicrosoft.com"]
    assert message.received_at == datetime(2018, 9, 9, 3, 15, 8, tzinfo=UTC)
    assert message.body_text == "The group represents Nevada."
    assert message.headers["x-custom-header-group-id"] == "WA001"
    assert message.extra["parent_folder_id"] == "AAMkADcbAAAAAAEJAAA="
    old = parse_message_page(
        {"value": [fixture("mail_message.json")]}, "inbox", since=datetime(2019, 1, 1, tzinfo=UTC)
    )
    assert old.items == [] and old.ignored == {"older_than_window": 1}


def test_documented_folder_user_and_subscription_parse():
    folder = folder_from(fixture("mail_folder.json"), "inbox")
    assert (folder.id, folder.display_name, folder.total) == ("AAMkADcbAAAAAAEMAAA=", "Inbox", 71)
    assert addresses_of(fixture("mail_user.json")) == [
        "adelev@contoso.com",
        "adele@contoso.onmicrosoft.com",
    ]
    now = datetime(2016, 11, 20, tzinfo=UTC)
    expiry = granted_expiry(fixture("notifications_subscription_created.json"), now)
    assert expiry == datetime(2016, 11, 20, 18, 23, 45, 935691, tzinfo=UTC)


@pytest.mark.parametrize(
    ("name", "status", "lost"),
    [
        ("errors_sync_state_not_found.json", 410, True),
        ("errors_sync_state_not_found.json", 400, True),
        ("errors_sync_state_not_found.json", 404, True),
        ("errors_item_not_found.json", 404, False),
        ("errors_too_many_requests.json", 429, False),
    ],
)
def test_documented_error_bodies(name, status, lost):
    code, message = error_fields(fixture(name))
    assert code and message
    assert is_delta_state_lost(status, code) is lost


# --- the sandbox serves the same shapes ---------------------------------------------------


def _token(sandbox) -> str:
    with sandbox.app.app_context():
        token, _ = identity_state.access_token(
            identity_state.state(),
            sandbox.url,
            ALEX,
            "courier-dev-client",
            GRAPH_RESOURCE,
            ["Mail.Read", "Calendars.Read", "User.Read"],
        )
    return token


@pytest.fixture
def graph(sandbox):
    sandbox.control("/_sandbox/graph/configure", {"messages": 120, "events": 8, "seed": 3})
    return sandbox


def _get(sandbox, url: str, **headers):
    if not url.startswith("https://"):
        url = f"{sandbox.url}/graph/v1.0{url}"
    return sandbox.http.get(
        url, headers={"Authorization": f"Bearer {_token(sandbox)}", **headers}, timeout=30
    )


def _delta_pages(sandbox, folder: str, page_size: int) -> list[dict]:
    client = GraphClient(f"{sandbox.url}/graph/v1.0", "", ALEX.object_id)
    folder_id = _get(sandbox, f"/me/mailFolders/{folder}").json()["id"]
    url = client.message_delta_url(folder_id, None)
    pages = []
    while url:
        page = _get(sandbox, url, Prefer=f"odata.maxpagesize={page_size}").json()
        pages.append(page)
        url = page.get("@odata.nextLink")
    return pages


def test_the_sandbox_delta_pages_and_messages_have_the_documented_shape(graph):
    pages = _delta_pages(graph, "inbox", 40)
    assert len(pages) > 1
    documented = fixture("mail_message.json")
    for page, name in (
        (pages[0], "mail_delta_first_page.json"),
        (pages[-1], "mail_delta_last_page.json"),
    ):
        envelope = fixture(name)
        assert set(page) == set(envelope)
        assert page["@odata.context"] == envelope["@odata.context"]
    served = pages[0]["value"][0]
    assert {k for k in set(served) - set(documented) if not k.startswith("@odata.")} == set()
    assert_same_shape(_only(documented, SELECTED), _only(served, SELECTED))
    # Sent Items: the same, without internetMessageHeaders.
    sent = _delta_pages(graph, "sentitems", 100)[0]["value"][0]
    assert_same_shape(
        _only(documented, SELECTED - {"internetMessageHeaders"}), _only(sent, SELECTED)
    )
    assert "internetMessageHeaders" not in sent


def test_the_sandbox_partial_entries_and_removals_have_the_documented_shape(graph):
    first = _delta_pages(graph, "inbox", 200)
    delta_link = first[-1]["@odata.deltaLink"]
    message_id = first[0]["value"][0]["id"]
    graph.control(f"/_sandbox/graph/users/{ALEX.object_id}/messages/{message_id}/read")
    entry = _get(graph, delta_link).json()["value"][0]
    assert_same_shape(fixture("mail_delta_partial_update.json")["value"][0], entry)
    # A removal (the sandbox removes events, not messages): {id, @removed: {reason}}.
    window = "startDateTime=2000-01-01T00:00:00Z&endDateTime=2100-01-01T00:00:00Z"
    url, events = f"/me/calendarView/delta?{window}", []
    while url:
        page = _get(graph, url, Prefer="odata.maxpagesize=50").json()
        events += page["value"]
        url = page.get("@odata.nextLink")
    graph.control(f"/_sandbox/graph/users/{ALEX.object_id}/events/{events[0]['id']}/delete")
    removed = _get(graph, page["@odata.deltaLink"]).json()["value"][0]
    assert_same_shape(fixture("mail_delta_next_round.json")["value"][0], removed)


def test_the_sandbox_error_bodies_have_the_documented_shape(graph):
    documented = shape(fixture("errors_sync_state_not_found.json"))
    delta_link = _delta_pages(graph, "inbox", 200)[-1]["@odata.deltaLink"]
    graph.control("/_sandbox/graph/invalidate", {})
    lost = _get(graph, delta_link)
    assert lost.status_code == 410
    assert shape(lost.json()) == documented
    assert error_fields(lost.json())[0] == "SyncStateNotFound"
    missing = _get(graph, "/me/mailFolders/AAMkF-nowhere")
    assert missing.status_code == 404
    assert error_fields(missing.json())[0] == error_fields(fixture("errors_item_not_found.json"))[0]
    graph.control("/_sandbox/graph/faults", {"throttle_rate": 1.0})
    throttled = _get(graph, "/me")
    assert throttled.status_code == 429
    assert set(throttled.json()["error"]) == set(fixture("errors_too_many_requests.json")["error"])


def test_the_sandbox_folder_and_user_have_the_documented_shape(graph):
    folder = _get(graph, "/me/mailFolders/inbox").json()
    assert_same_shape(fixture("mail_folder.json"), folder)
    user = _get(
        graph,
        f"/users/{ALEX.object_id}?$select=id,displayName,mail,userPrincipalName,proxyAddresses",
    )
    assert_same_shape(fixture("mail_user.json"), user.json())


@pytest.fixture
def receiver():
    """An HTTP endpoint that answers Graph's validation handshake and keeps what it is sent."""
    app, received = Flask("receiver"), []

    @app.post("/<path:kind>")
    def receive(kind: str):
        token = request.args.get("validationToken")
        if token is not None:
            return token, 200, {"Content-Type": "text/plain"}
        received.append((kind, request.get_json()))
        return "", 202

    port = free_port()
    server = make_server("127.0.0.1", port, app, threaded=True)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{port}", received
    server.shutdown()
    thread.join(timeout=10)


def test_the_sandbox_subscriptions_and_notifications_have_the_documented_shape(graph, receiver):
    base, received = receiver
    answer = graph.http.post(
        f"{graph.url}/graph/v1.0/subscriptions",
        json={
            "changeType": "created",
            "resource": f"/users/{ALEX.object_id}/messages",
            "notificationUrl": f"{base}/notify",
            "lifecycleNotificationUrl": f"{base}/lifecycle",
            "clientState": "secretClientValue",
            "expirationDateTime": "2099-01-01T00:00:00Z",
        },
        headers={"Authorization": f"Bearer {_token(graph)}"},
        timeout=30,
    )
    assert answer.status_code == 201, answer.text
    assert_same_shape(fixture("notifications_subscription_created.json"), answer.json())
    graph.control(f"/_sandbox/graph/users/{ALEX.object_id}/messages", {})
    for event in ("missed", "reauthorizationRequired", "subscriptionRemoved"):
        graph.control("/_sandbox/graph/lifecycle", {"user": ALEX.object_id, "event": event})
    deadline = datetime.now(UTC).timestamp() + 10
    while not any(kind == "notify" for kind, _ in received):
        assert datetime.now(UTC).timestamp() < deadline, "no change notification came"
        threading.Event().wait(0.05)
    by_kind: dict[str, list[dict]] = {}
    for kind, body in received:
        by_kind.setdefault(kind, []).append(body)
    assert_same_shape(fixture("notifications_message_created.json"), by_kind["notify"][0])
    events = {body["value"][0]["lifecycleEvent"]: body for body in by_kind["lifecycle"]}
    for name in ("missed", "reauthorization_required", "subscription_removed"):
        documented = fixture(f"notifications_lifecycle_{name}.json")
        assert_same_shape(documented, events[documented["value"][0]["lifecycleEvent"]])
