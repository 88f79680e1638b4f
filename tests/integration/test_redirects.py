"""Where sign-in sends the browser afterwards (`next`): a path on this site or nowhere.

Through the real flow (our sign-in → the sandbox's authorize page → our callback), and the
rule itself (server/auth/safe_next.py) on the forms browsers are known to bend."""

from __future__ import annotations

from urllib.parse import quote, urlsplit

import pytest

from server.auth.safe_next import safe_next
from server.sandbox.directory import DEMO_USERS
from tests.integration.signin_helpers import pick_user_on_authorize_page

BIANCA = DEMO_USERS[1]

# Raw `next` values as they arrive in the query string (percent-encoded by the attacker).
HOSTILE = [
    "/%09/evil.example/x",  # the reported one: the tab vanishes, leaving //evil.example/x
    "/%0a/evil.example/x",
    "/%0d/evil.example/x",
    "/x%0d%0aSet-Cookie:%20pwned=1",  # CR/LF: a 500 at the callback before the fix
    "//evil.example/x",
    "/\\evil.example/x",
    "/%5Cevil.example/x",
    "\\\\evil.example/x",
    "https://evil.example/x",
    "HTTPS:evil.example",
    "javascript:alert(1)",
    "/%20/evil.example",
    "/%E2%80%A8/evil.example",
    "evil.example/x",
    "",
]


@pytest.fixture
def app_config(sandbox):
    return sandbox.settings()


def sign_in_web(client, sandbox, raw_next: str):
    """Sign in as a web page would, with `next` exactly as given; the callback's response."""
    start = client.get(f"/auth/signin?next={raw_next}")
    assert start.status_code == 302, start.data
    callback = urlsplit(pick_user_on_authorize_page(sandbox, start.headers["Location"], BIANCA))
    return client.get(f"{callback.path}?{callback.query}")


@pytest.mark.parametrize("raw_next", HOSTILE)
def test_a_hostile_next_never_leaves_the_site(client, sandbox, raw_next):
    response = sign_in_web(client, sandbox, raw_next)
    assert response.status_code == 200  # the signed-in page, not a redirect and not a 500
    assert "Location" not in response.headers
    assert b"evil.example" not in response.data


@pytest.mark.parametrize(
    ("raw_next", "location"),
    [
        ("/crm/accounts", "/crm/accounts"),
        (quote("/crm/contacts?q=acme&page=2", safe="/"), "/crm/contacts?q=acme&page=2"),
        ("/", "/"),
    ],
)
def test_a_path_on_this_site_is_followed(client, sandbox, raw_next, location):
    response = sign_in_web(client, sandbox, raw_next)
    assert response.status_code == 302
    assert response.headers["Location"] == location


def test_a_nul_in_next_is_refused_before_sign_in_starts(client):
    response = client.get("/auth/signin?next=/%00/evil.example")
    assert response.status_code == 400 and response.json["error"] == "invalid_string"


def test_pages_send_the_browser_to_sign_in_and_back(client, sandbox):
    first = client.get("/crm/contacts?q=acme")
    assert first.status_code == 302
    start = urlsplit(first.headers["Location"])
    assert start.path == "/auth/signin"
    response = sign_in_web(client, sandbox, start.query.split("next=", 1)[1])
    assert response.headers["Location"] == "/crm/contacts?q=acme"


@pytest.mark.parametrize(
    "value",
    [
        "/\t/evil.example/x",
        "/\n/evil.example",
        "/\r\nLocation: https://evil.example",
        "//evil.example",
        "/\\evil.example",
        "/a\\b",
        "\\/evil.example",
        "https://evil.example",
        "http:/evil.example",
        "/\x00",
        "/\x7f",
        "/\u0085evil",
        "/\u2028evil",
        "/\ufeff/evil.example",
        "/ /evil.example",
        "evil.example",
        "/" + "a" * 3000,
        None,
        "",
    ],
)
def test_safe_next_refuses(value):
    assert safe_next(value) == ""


@pytest.mark.parametrize(
    "value", ["/", "/crm/accounts", "/crm/contacts?q=a%20b&page=2", "/crm/lead/12#timeline"]
)
def test_safe_next_keeps_paths(value):
    assert safe_next(value) == value
