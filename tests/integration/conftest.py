"""Fixtures of the integration tests that several modules share."""

from __future__ import annotations

import threading

import pytest
from werkzeug.serving import make_server


@pytest.fixture
def served(app):
    """Our app over real HTTP at BASE_URL, so the sandbox can call it."""
    port = int(app.config["BASE_URL"].rsplit(":", 1)[1])
    server = make_server("127.0.0.1", port, app, threaded=True)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield app.config["BASE_URL"]
    server.shutdown()
    thread.join(timeout=10)
