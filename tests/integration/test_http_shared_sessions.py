"""A process's shared HTTP session serves every user in turn (server/http.py): nothing an
answer sets is sent with the next call, and a forked process never reuses its parent's."""

from __future__ import annotations

import os
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest

from server.http import shared_http_session


@pytest.fixture
def cookie_server():
    """A real HTTP server that sets a cookie on every answer and records the Cookie headers
    it was sent."""
    seen: list[str | None] = []

    class Handler(BaseHTTPRequestHandler):
        def do_GET(self):
            seen.append(self.headers.get("Cookie"))
            self.send_response(200)
            self.send_header("Set-Cookie", f"slice=user-{len(seen)}; Path=/")
            self.send_header("Content-Length", "0")
            self.end_headers()

        def log_message(self, *_args):
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    yield f"http://127.0.0.1:{server.server_address[1]}", seen
    server.shutdown()


def test_a_shared_session_sends_no_cookie_an_earlier_answer_set(app, cookie_server):
    url, seen = cookie_server
    with app.app_context():
        http = shared_http_session("microsoft_identity")
        assert shared_http_session("microsoft_identity") is http
        assert shared_http_session("graph") is not http
        for _ in range(3):
            assert http.get(url, timeout=5).status_code == 200
    assert seen == [None, None, None]
    assert len(http.cookies) == 0


def test_a_forked_child_builds_its_own(app):
    with app.app_context():
        parent = id(shared_http_session("graph"))
        reader, writer = os.pipe()
        pid = os.fork()
        if pid == 0:  # the child answers whether it was handed the parent's session
            os.write(writer, b"same" if id(shared_http_session("graph")) == parent else b"own")
            os._exit(0)
        os.waitpid(pid, 0)
        assert os.read(reader, 8) == b"own"
