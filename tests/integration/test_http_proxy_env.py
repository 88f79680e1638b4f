"""Outbound HTTP honours the proxy environment as requests does (HTTPS_PROXY, NO_PROXY), read
once per host by each of our HTTP sessions rather than on every request (server/http.py)."""

from __future__ import annotations

import pytest
import requests

from server.http import make_http_session
from server.redis_server import free_port


@pytest.fixture
def dead_proxy(monkeypatch):
    """A proxy nobody answers at: a request sent through it fails with ProxyError."""
    for name in ("http_proxy", "https_proxy", "all_proxy", "no_proxy"):
        monkeypatch.delenv(name, raising=False)
        monkeypatch.delenv(name.upper(), raising=False)
    proxy = f"http://127.0.0.1:{free_port()}"
    monkeypatch.setenv("HTTPS_PROXY", proxy)
    return proxy


def test_no_proxy_hosts_go_direct_and_the_others_through_the_proxy(
    sandbox, dead_proxy, monkeypatch
):
    monkeypatch.setenv("NO_PROXY", "127.0.0.1")
    http = make_http_session(ca_bundle=sandbox.ca_bundle, timeout=5)
    port = sandbox.url.rsplit(":", 1)[1]
    for _ in range(2):  # the second time from what was read the first
        assert http.post(f"{sandbox.url}/_sandbox/reset", json={}).status_code == 200
        with pytest.raises(requests.exceptions.ProxyError):
            http.post(f"https://localhost:{port}/_sandbox/reset", json={})
    # An explicit per-request proxy still wins over the environment, as in requests.
    with pytest.raises(requests.exceptions.ProxyError):
        http.post(f"{sandbox.url}/_sandbox/reset", json={}, proxies={"https": dead_proxy})


def test_the_environment_is_read_once_per_host_by_each_session(sandbox, dead_proxy, monkeypatch):
    monkeypatch.setenv("NO_PROXY", "127.0.0.1")
    http = make_http_session(ca_bundle=sandbox.ca_bundle, timeout=5)
    assert http.post(f"{sandbox.url}/_sandbox/reset", json={}).status_code == 200
    monkeypatch.delenv("NO_PROXY")
    # The running session keeps what it read for this host ...
    assert http.post(f"{sandbox.url}/_sandbox/reset", json={}).status_code == 200
    # ... and a new one reads the environment as it is now.
    with pytest.raises(requests.exceptions.ProxyError):
        make_http_session(ca_bundle=sandbox.ca_bundle, timeout=5).post(
            f"{sandbox.url}/_sandbox/reset", json={}
        )
