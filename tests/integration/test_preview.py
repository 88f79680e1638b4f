"""/preview: the demo mailbox beside the pane, and the pane's Office.js swapped for the
simulation only for browsers that opened the preview (the dialog pages keep the real one)."""

from __future__ import annotations

import json
import re

import pytest

from server.preview import PREVIEW_COOKIE, SIM_PATH
from server.sandbox.directory import DEMO_USERS
from tests.integration.signin_helpers import browser_sign_in

# Microsoft's CDN, the default OFFICE_JS_URL.
OFFICE_CDN_TAG = (
    '<script src="https://appsforoffice.microsoft.com/lib/1/hosted/office.js"></script>'
)


@pytest.fixture
def database_url(sqlite_url):
    return sqlite_url


@pytest.fixture
def app_config(sandbox):
    return sandbox.settings()


def _preview_data(html: str) -> dict:
    match = re.search(
        r'<script type="application/json" id="preview-data">(.*?)</script>', html, re.S
    )
    assert match
    return json.loads(match.group(1))


def test_preview_lists_the_demo_mailbox_and_sets_the_cookie(client):
    response = client.get("/preview")
    assert response.status_code == 200
    assert f"{PREVIEW_COOKIE}=1" in response.headers["Set-Cookie"]
    data = _preview_data(response.get_data(as_text=True))
    assert data["user"]["email"] == "alex@courier-demo.test"
    messages = data["messages"]
    assert 10 <= len(messages) <= 40
    for message in messages:
        assert message["id"] and message["from"] is not None
        assert message["folder"] not in ("junkemail", "deleteditems")
    assert any(m["internetMessageId"] for m in messages)


def test_preview_of_another_demo_user(client):
    html = client.get("/preview?user=bianca@courier-demo.test").get_data(as_text=True)
    assert _preview_data(html)["user"]["email"] == "bianca@courier-demo.test"


def test_message_data_cannot_break_out_of_the_json_block(client):
    html = client.get("/preview").get_data(as_text=True)
    block = html.split('id="preview-data">', 1)[1].split("</script>", 1)[0]
    assert "<" not in block  # tojson escapes <, > and & inside the data


def test_office_js_is_swapped_only_inside_the_preview(client):
    plain = client.get("/addin/taskpane.html").get_data(as_text=True)
    assert OFFICE_CDN_TAG in plain and SIM_PATH not in plain
    client.get("/preview")  # the browser now carries the preview cookie
    swapped = client.get("/addin/taskpane.html")
    text = swapped.get_data(as_text=True)
    assert SIM_PATH in text and OFFICE_CDN_TAG not in text
    assert swapped.headers["Cache-Control"] == "no-store"
    assert client.get(SIM_PATH).mimetype == "text/javascript"


def test_the_sign_in_dialog_keeps_the_real_office_js_inside_the_preview(client, sandbox):
    # In Outlook the dialog runs Microsoft's Office.js; so does the preview's, which then
    # messages the simulated host by postMessage (server/static/auth/bridge.js).
    client.get("/preview")
    bridge = browser_sign_in(client, sandbox, DEMO_USERS[0])
    assert bridge.status_code == 200
    assert OFFICE_CDN_TAG in bridge.text and SIM_PATH not in bridge.text
    assert "auth/bridge.js" in bridge.text


def test_no_preview_without_the_sandbox(sqlite_url, redis_url, redis_client):
    from tests.conftest import make_test_app

    app = make_test_app(sqlite_url, redis_url, SANDBOX_ENABLED=False)
    client = app.test_client()
    assert client.get("/preview").status_code == 404
    client.set_cookie(PREVIEW_COOKIE, "1")
    assert OFFICE_CDN_TAG in client.get("/addin/taskpane.html").get_data(as_text=True)
    app.extensions["db_engine"].dispose()


def test_the_whole_mailbox_is_paged_and_searchable(client):
    """Every message of the generated mailbox is on exactly one page; search and folder
    narrow the list; odd page numbers and folders fall back instead of failing."""
    first = client.get("/preview")
    html = first.get_data(as_text=True)
    total = int(re.search(r'id="mailbox-count"[^>]*>(\d+) messages', html).group(1))
    pages = -(-total // 40)
    assert total > 40 and f"page 1 of {pages}" in html
    seen: list[str] = []
    for number in range(1, pages + 1):
        data = _preview_data(client.get(f"/preview?page={number}").get_data(as_text=True))
        seen += [m["id"] for m in data["messages"]]
    assert len(seen) == total == len(set(seen))
    last = client.get(f"/preview?page={pages}").get_data(as_text=True)
    assert 'id="page-older"' not in last and 'id="page-newer"' in last

    subject = _preview_data(html)["messages"][3]["subject"]
    word = max(subject.split(), key=len)
    found = _preview_data(client.get(f"/preview?q={word}").get_data(as_text=True))["messages"]
    assert found and all(word.lower() in json.dumps(m).lower() for m in found)
    sent = _preview_data(client.get("/preview?folder=sentitems").get_data(as_text=True))
    assert sent["messages"] and {m["folder"] for m in sent["messages"]} == {"sentitems"}
    for odd in ("page=0", "page=99999", "page=x", "folder=nope", "q=" + "a" * 500):
        assert client.get(f"/preview?{odd}").status_code == 200


def test_a_search_is_text_in_the_page(client):
    html = client.get("/preview?q=<script>alert(1)</script>").get_data(as_text=True)
    assert "<script>alert(1)</script>" not in html
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in html
