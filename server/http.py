"""One place for outbound HTTP: the CA bundle we trust and the default timeout.

Every outbound client (MSAL's `http_client`, the Graph and Salesforce clients) gets its
`requests.Session` here, so a deployment behind a TLS-inspecting proxy, or the sandbox with its
development CA, needs one setting (CA_BUNDLE) and nothing else.
"""

from __future__ import annotations

from typing import Any

import requests
from flask import current_app, has_app_context


class _TimeoutSession(requests.Session):
    """A Session whose requests time out by default (requests itself waits forever)."""

    def __init__(self, timeout: float) -> None:
        super().__init__()
        self.default_timeout = timeout

    def request(self, method: str | bytes, url: str | bytes, *args: Any, **kwargs: Any):
        kwargs.setdefault("timeout", self.default_timeout)
        if isinstance(self.verify, str):
            # requests lets REQUESTS_CA_BUNDLE / CURL_CA_BUNDLE from the environment override
            # Session.verify; a per-request verify wins, so the configured bundle is used.
            kwargs.setdefault("verify", self.verify)
        return super().request(method, url, *args, **kwargs)


def make_http_session(
    ca_bundle: str | None = None, timeout: float | None = None
) -> requests.Session:
    """A requests.Session trusting CA_BUNDLE (when set) with HTTP_TIMEOUT_SECONDS by default.

    Outside an app context pass `ca_bundle`/`timeout` yourself.
    """
    if has_app_context():
        config = current_app.config
        ca_bundle = ca_bundle if ca_bundle is not None else config.get("CA_BUNDLE", "")
        timeout = timeout if timeout is not None else config.get("HTTP_TIMEOUT_SECONDS", 20)
    session = _TimeoutSession(float(timeout if timeout is not None else 20))
    if ca_bundle:
        session.verify = ca_bundle
    return session
