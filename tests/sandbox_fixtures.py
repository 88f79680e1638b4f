"""The sandbox service over real HTTPS, for integration tests.

`sandbox` (per test) is the session-wide server with its state reset through POST
/_sandbox/reset. It exposes:
  .url          https://127.0.0.1:PORT
  .ca_bundle    path of the development CA certificate (PEM)
  .app          the sandbox Flask app (for reading state in assertions)
  .settings()   Courier settings overrides pointing the product at it
  .http         a requests.Session trusting the CA
  .control(path, json=None)  POST to a /_sandbox/... switch, returning the JSON answer
Use it with the product app by overriding `app_config`:

    @pytest.fixture
    def app_config(sandbox):
        return sandbox.settings()
"""

from __future__ import annotations

import threading
from dataclasses import dataclass
from typing import Any

import pytest
import requests
from flask import Flask
from werkzeug.serving import BaseWSGIServer, make_server

from server.http import make_http_session
from server.sandbox.app import create_sandbox_app
from server.sandbox.devca import ensure_dev_ca, ssl_context_for


@dataclass
class SandboxServer:
    url: str
    ca_bundle: str
    app: Flask
    server: BaseWSGIServer
    http: requests.Session

    def settings(self) -> dict[str, Any]:
        return {
            "MS_AUTHORITY_HOST": self.url,
            "GRAPH_BASE_URL": f"{self.url}/graph/v1.0",
            "SALESFORCE_LOGIN_URL": f"{self.url}/salesforce",
            "CA_BUNDLE": self.ca_bundle,
            "SANDBOX_ENABLED": True,
        }

    def control(self, path: str, json: dict | None = None, method: str = "POST") -> Any:
        response = self.http.request(method, f"{self.url}{path}", json=json or {}, timeout=10)
        response.raise_for_status()
        return response.json()

    def reset(self) -> None:
        self.control("/_sandbox/reset")


@pytest.fixture(scope="session")
def sandbox_server(tmp_path_factory):
    paths = ensure_dev_ca(tmp_path_factory.mktemp("devca"))
    app = create_sandbox_app()
    server = make_server("127.0.0.1", 0, app, threaded=True, ssl_context=ssl_context_for(paths))
    thread = threading.Thread(target=server.serve_forever, name="sandbox", daemon=True)
    thread.start()
    http = make_http_session(ca_bundle=str(paths.ca_cert), timeout=10)
    handle = SandboxServer(
        url=f"https://127.0.0.1:{server.server_port}",
        ca_bundle=str(paths.ca_cert),
        app=app,
        server=server,
        http=http,
    )
    yield handle
    server.shutdown()
    thread.join(timeout=10)
    http.close()


@pytest.fixture
def sandbox(sandbox_server):
    sandbox_server.reset()
    return sandbox_server
