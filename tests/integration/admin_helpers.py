"""Signing people in through the start page's browser flow (cookie session), for the admin
console's tests."""

from __future__ import annotations

from urllib.parse import quote, urlsplit

from flask.testing import FlaskClient

from server.sandbox.directory import DirectoryUser
from tests.integration.signin_helpers import pick_user_on_authorize_page


def web_sign_in(client: FlaskClient, sandbox, user: DirectoryUser, next_path: str = "/admin/"):
    """The start page's "Sign in with Microsoft" (web mode, back to `next_path`): the session
    token ends up in the client's cookie. Returns the callback's response."""
    start = client.get(f"/auth/signin?next={quote(next_path)}")
    assert start.status_code == 302, start.data
    callback = urlsplit(pick_user_on_authorize_page(sandbox, start.headers["Location"], user))
    return client.get(f"{callback.path}?{callback.query}")


def csrf(client: FlaskClient) -> str:
    """The form token of the client's session (what a page's hidden field carries)."""
    with client.session_transaction() as session:
        if "csrf_token" not in session:
            session["csrf_token"] = "test-csrf-token"
        return session["csrf_token"]
