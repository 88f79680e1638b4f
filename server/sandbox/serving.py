"""Serving the sandbox over HTTP/1.1 with persistent connections, as Microsoft Graph and the
identity platform are served.

HTTP/1.1 connections are persistent unless either side says `Connection: close` (RFC 9112
§9.3, https://www.rfc-editor.org/rfc/rfc9112#section-9.3), and Graph's own SDKs keep one
HTTP client per application for that reason (e.g. microsoftgraph/msgraph-sdk-powershell#1184
"Reuse session HTTP client"). Werkzeug's development server closes every connection after one
response, because http.server cannot drain an unread request body before the next request
line. A client that reuses its connections (our worker's one HTTP session per process) would
then pay a TCP and TLS handshake per call against the sandbox that it never pays against
Graph, and the fleet benchmark would measure the sandbox's handshakes instead of a session.

This handler reads each request's body whole before the app runs (so nothing is left unread
on the connection) and keeps the connection open; a chunked request body, or a client that
asks to close, or one that expects `100 Continue`, still closes it as before.
"""

from __future__ import annotations

import io
import os
import socket
import threading

from werkzeug.serving import WSGIRequestHandler

# An idle persistent connection is closed by the server after this long (its thread ends).
IDLE_SECONDS = 120

_quiet_lock = threading.Lock()
_quiet_fd: list[int] = []


def _never_readable() -> int:
    """The read end of a pipe nobody writes to (kept for the process's life)."""
    with _quiet_lock:
        if not _quiet_fd:
            _quiet_fd.append(os.pipe()[0])
        return _quiet_fd[0]


class _QuietConnection:
    """The connection as werkzeug's after-response drain sees it: never readable. Werkzeug
    reads whatever the client sent after the response (it assumes the connection closes);
    on a persistent connection that is the next request. The body was read up front."""

    def __init__(self, real):
        self._real = real

    def fileno(self) -> int:
        return _never_readable()

    def __getattr__(self, name: str):
        return getattr(self._real, name)


class KeepAliveRequestHandler(WSGIRequestHandler):
    protocol_version = "HTTP/1.1"
    timeout = IDLE_SECONDS

    def setup(self) -> None:
        """No Nagle's algorithm: http.server writes a response in pieces (the status and
        headers, then the body), and on a kept-alive connection the body's small segment waits
        until the client acknowledges the headers' — which a client delays by up to 40 ms
        (Linux's delayed ACK), so every answer took ~40 ms more than it cost. That delay is
        this server's, not part of any Graph or Salesforce behaviour the sandbox imitates;
        gunicorn sets the same option on its sockets.
        https://man7.org/linux/man-pages/man7/tcp.7.html (TCP_NODELAY)"""
        super().setup()
        self.connection.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)

    def _persistent(self) -> bool:
        """Whether this request's body can be read whole before the app runs: not chunked,
        no `Expect: 100-continue` (werkzeug answers and reads those itself)."""
        headers = self.headers
        return "chunked" not in (headers.get("Transfer-Encoding") or "").lower() and not (
            headers.get("Expect")
        )

    def run_wsgi(self) -> None:
        if not self._persistent():
            return super().run_wsgi()
        real = self.connection
        self.connection = _QuietConnection(real)
        try:
            return super().run_wsgi()
        finally:
            self.connection = real

    def make_environ(self):
        environ = super().make_environ()
        if self._persistent():
            length = environ.get("CONTENT_LENGTH") or ""
            body = self.rfile.read(int(length)) if length.isdigit() else b""
            environ["wsgi.input"] = io.BytesIO(body)
            environ["wsgi.input_terminated"] = True
        return environ

    def send_header(self, keyword: str, value: str) -> None:
        if (
            keyword.lower() == "connection"
            and value.lower() == "close"
            and self._persistent()
            and not self.close_connection
        ):
            return  # werkzeug's unconditional close: this request left nothing unread
        super().send_header(keyword, value)

    def log_error(self, format: str, *args) -> None:  # noqa: A002 (http.server's signature)
        if format.startswith("Request timed out"):
            return  # an idle kept-alive connection closing after IDLE_SECONDS: not an error
        super().log_error(format, *args)
