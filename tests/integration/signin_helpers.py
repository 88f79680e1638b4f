"""Drive the real sign-in over HTTP: our app (test client) → sandbox authorize page (HTTPS)
→ our callback → bridge page → one-time code exchange. Used by the auth tests and usable by
any test that wants a user signed in the way a person would be."""

from __future__ import annotations

import re
from html.parser import HTMLParser
from urllib.parse import urlsplit

from server.sandbox.directory import DirectoryUser


class _Forms(HTMLParser):
    def __init__(self) -> None:
        super().__init__()
        self.forms: list[dict] = []

    def handle_starttag(self, tag, attrs):
        attrs = dict(attrs)
        if tag == "form":
            self.forms.append({"action": attrs.get("action") or "", "fields": {}})
        elif tag == "input" and self.forms and attrs.get("name"):
            self.forms[-1]["fields"][attrs["name"]] = attrs.get("value", "")


def parse_forms(html: str) -> list[dict]:
    parser = _Forms()
    parser.feed(html)
    return parser.forms


def pick_user_on_authorize_page(sandbox, authorize_url: str, user: DirectoryUser) -> str:
    """GET the sandbox's authorize page, submit the form of `user`; returns our callback URL."""
    page = sandbox.http.get(authorize_url)
    assert page.status_code == 200, page.text
    form = next(f for f in parse_forms(page.text) if f["fields"].get("oid") == user.object_id)
    answer = sandbox.http.post(
        authorize_url.split("?")[0], data=form["fields"], allow_redirects=False
    )
    assert answer.status_code == 302, answer.text
    return answer.headers["Location"]


def browser_sign_in(client, sandbox, user: DirectoryUser, mode: str = "dialog"):
    """Returns the response of our callback (the bridge page, or a redirect)."""
    start = client.get(f"/auth/signin?mode={mode}")
    assert start.status_code == 302, start.data
    callback_url = pick_user_on_authorize_page(sandbox, start.headers["Location"], user)
    parts = urlsplit(callback_url)
    return client.get(f"{parts.path}?{parts.query}")


def one_time_code(bridge_html: str) -> str:
    match = re.search(r'data-code="([^"]+)"', bridge_html)
    assert match, "no one-time code on the bridge page"
    return match.group(1)


def sign_in_for_token(client, sandbox, user: DirectoryUser) -> str:
    """The whole pane flow: sign in through the dialog, exchange the code; the session token."""
    bridge = browser_sign_in(client, sandbox, user)
    assert bridge.status_code == 200, bridge.data
    answer = client.post("/auth/api/exchange", json={"code": one_time_code(bridge.text)})
    assert answer.status_code == 200, answer.json
    return answer.json["token"]
