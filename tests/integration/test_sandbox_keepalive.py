"""The sandbox keeps HTTP/1.1 connections open as Graph does, so a client that reuses its
connections (a worker's one HTTP session) pays one TLS handshake, not one per call: with
werkzeug's own handler every response closes its connection."""

from __future__ import annotations

import socket
import threading

import pytest
from werkzeug.serving import WSGIRequestHandler, make_server

from server.http import make_http_session
from server.sandbox.app import create_sandbox_app
from server.sandbox.devca import ensure_dev_ca, ssl_context_for
from server.sandbox.serving import KeepAliveRequestHandler


@pytest.fixture(scope="module")
def devca(tmp_path_factory):
    return ensure_dev_ca(tmp_path_factory.mktemp("devca"))


def _counting(handler):
    """`handler`, counting the connections the server accepted (one handler per connection)."""

    class Counting(handler):
        accepted = 0

        def setup(self):
            type(self).accepted += 1
            super().setup()

    return Counting


def _serve(devca, handler):
    server = make_server(
        "127.0.0.1",
        0,
        create_sandbox_app(),
        threaded=True,
        ssl_context=ssl_context_for(devca),
        request_handler=handler,
    )
    threading.Thread(target=server.serve_forever, daemon=True).start()
    return server, f"https://127.0.0.1:{server.server_port}"


def _calls(http, url: str) -> list[int]:
    """A mix of calls: JSON bodies the app reads, a body nobody reads (an unknown path), a
    GET Graph refuses, and a body-less POST."""
    return [
        http.post(f"{url}/_sandbox/reset", json={}).status_code,
        http.post(f"{url}/no/such/path", data=b"x" * 5000).status_code,
        http.get(f"{url}/graph/v1.0/me").status_code,
        http.post(f"{url}/_sandbox/reset").status_code,
        http.post(f"{url}/_sandbox/reset", json={"padding": "y" * 20000}).status_code,
    ]


@pytest.mark.parametrize(
    ("handler", "connections"), [(KeepAliveRequestHandler, 1), (WSGIRequestHandler, 5)]
)
def test_one_connection_serves_every_call(devca, handler, connections):
    counting = _counting(handler)
    server, url = _serve(devca, counting)
    http = make_http_session(ca_bundle=str(devca.ca_cert), timeout=10)
    try:
        assert _calls(http, url) == [200, 404, 401, 200, 200]
        assert counting.accepted == connections
    finally:
        http.close()
        server.shutdown()


def test_answers_are_sent_without_waiting_for_an_acknowledgement(devca):
    """Nagle's algorithm is off on the sandbox's connections: a kept-alive answer written in
    two pieces otherwise waits ~40 ms for the client's delayed ACK of the first."""
    options = []

    class Recording(KeepAliveRequestHandler):
        def setup(self):
            super().setup()
            options.append(self.connection.getsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY))

    server, url = _serve(devca, Recording)
    http = make_http_session(ca_bundle=str(devca.ca_cert), timeout=10)
    try:
        assert http.post(f"{url}/_sandbox/reset", json={}).status_code == 200
        assert len(options) == 1 and options[0] != 0
    finally:
        http.close()
        server.shutdown()
