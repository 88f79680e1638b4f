"""One place for outbound HTTP: the CA bundle we trust and the default timeout.

Every outbound client (MSAL's `http_client`, the Graph and Salesforce clients) gets its
`requests.Session` here, so a deployment behind a TLS-inspecting proxy, or the sandbox with its
development CA, needs one setting (CA_BUNDLE) and nothing else.
"""

from __future__ import annotations

import os
from http.cookiejar import DefaultCookiePolicy
from typing import Any
from urllib.parse import urlsplit

import requests
from flask import current_app, has_app_context
from requests.sessions import merge_setting
from requests.utils import get_environ_proxies


class _TimeoutSession(requests.Session):
    """A Session whose requests time out by default (requests itself waits forever)."""

    def __init__(self, timeout: float) -> None:
        super().__init__()
        self.default_timeout = timeout
        self.count_answers: Any = lambda answers: None
        # (scheme, host, no_proxy) -> the environment's proxies for it (see below).
        self._environ_proxies: dict[tuple, dict[str, str]] = {}

    def request(self, method: str | bytes, url: str | bytes, *args: Any, **kwargs: Any):
        kwargs.setdefault("timeout", self.default_timeout)
        if isinstance(self.verify, str):
            # requests lets REQUESTS_CA_BUNDLE / CURL_CA_BUNDLE from the environment override
            # Session.verify; a per-request verify wins, so the configured bundle is used.
            kwargs.setdefault("verify", self.verify)
        return super().request(method, url, *args, **kwargs)

    def merge_environment_settings(self, url, proxies, stream, verify, cert):
        """requests' own (trust_env: HTTP(S)_PROXY, ALL_PROXY, NO_PROXY, REQUESTS_CA_BUNDLE),
        except that the proxy environment is read once per host rather than on every request:
        that read copies and scans os.environ each time, a tenth of an idle sync session's CPU,
        and the environment does not change under a running process."""
        if not self.trust_env:
            return super().merge_environment_settings(url, proxies, stream, verify, cert)
        proxies = dict(proxies or {})
        no_proxy = proxies.get("no_proxy")
        key = (*urlsplit(url)[:2], no_proxy)
        found = self._environ_proxies.get(key)
        if found is None:
            if len(self._environ_proxies) >= 256:  # hosts come from configuration: few
                self._environ_proxies.clear()
            found = self._environ_proxies[key] = get_environ_proxies(url, no_proxy=no_proxy)
        for name, value in found.items():
            proxies.setdefault(name, value)
        if verify is True or verify is None:
            verify = (
                os.environ.get("REQUESTS_CA_BUNDLE") or os.environ.get("CURL_CA_BUNDLE") or verify
            )
        return {
            "proxies": merge_setting(proxies, self.proxies),
            "stream": merge_setting(stream, self.stream),
            "verify": merge_setting(verify, self.verify),
            "cert": merge_setting(cert, self.cert),
        }


def _is_throttled(response: requests.Response) -> bool:
    """Graph throttles with 429 (and 503) plus Retry-After
    (https://learn.microsoft.com/en-us/graph/throttling); Salesforce answers 403
    REQUEST_LIMIT_EXCEEDED when the org's API allowance is spent
    (https://developer.salesforce.com/docs/atlas.en-us.api_rest.meta/api_rest/errorcodes.htm)."""
    if response.status_code in (429, 503):
        return True
    return response.status_code == 403 and b"REQUEST_LIMIT_EXCEEDED" in response.content[:4096]


def count_answers(
    service: str, answers: list[tuple[int, bool]], redis: Any = None, buffer: Any = None
) -> None:
    """Answers from a provider in the metrics, (status, throttled) each: an HTTP response, or
    the requests' answers inside a batch (Graph's `$batch` throttles each request on its
    own). Summed in the app's `buffer` with the request's or job's other counts; without an
    app, in one Redis round trip."""
    from . import metrics

    commands: list[tuple] = []
    for status, throttled in answers:
        commands += metrics.counter_commands(
            "courier_outbound_requests", service=service, status=status
        )
        if throttled:
            commands += metrics.counter_commands("courier_outbound_throttled", service=service)
    if commands:
        metrics.record(commands, buffer, redis)


def _counting_hook(session: _TimeoutSession, service: str):
    from . import metrics

    # Taken now: the session may be used from threads that have no app context (Graph reads).
    redis, buffer = metrics.current_redis(), metrics.current_buffer()
    # Also for answers inside a batch, which the response hook does not see one by one.
    session.count_answers = lambda answers: count_answers(service, answers, redis, buffer)

    def count(response: requests.Response, *_args: Any, **_kwargs: Any) -> None:
        answer = (response.status_code, _is_throttled(response))
        count_answers(service, [answer], redis, buffer)

    return count


_shared: dict[tuple, requests.Session] = {}


def shared_http_session(service: str) -> requests.Session:
    """One Session per process, service and CA bundle/timeout, so consecutive sync sessions
    reuse their TLS connections instead of a handshake each (most of an idle session's CPU
    otherwise), and a token taken from a stored cache does not build a Session to send
    nothing. Keyed by pid: a forked child never uses its parent's sockets. RQ runs one job at
    a time per process; within a job the prefetch thread shares it as it shares the client."""
    cfg = current_app.config
    key = (os.getpid(), service, cfg.get("CA_BUNDLE", ""), cfg.get("HTTP_TIMEOUT_SECONDS", 20))
    session = _shared.get(key)
    if session is None:
        session = make_http_session(service=service)
        # It serves every user in turn: nothing one answer sets is sent with another's call.
        session.cookies.set_policy(DefaultCookiePolicy(allowed_domains=[]))
        _shared[key] = session
    return session


def make_http_session(
    ca_bundle: str | None = None, timeout: float | None = None, service: str = "other"
) -> requests.Session:
    """A requests.Session trusting CA_BUNDLE (when set) with HTTP_TIMEOUT_SECONDS by default,
    whose answers are counted in the metrics under `service` (graph, salesforce, ...).

    Outside an app context pass `ca_bundle`/`timeout` yourself.
    """
    if has_app_context():
        config = current_app.config
        ca_bundle = ca_bundle if ca_bundle is not None else config.get("CA_BUNDLE", "")
        timeout = timeout if timeout is not None else config.get("HTTP_TIMEOUT_SECONDS", 20)
    session = _TimeoutSession(float(timeout if timeout is not None else 20))
    if ca_bundle:
        session.verify = ca_bundle
    session.hooks["response"].append(_counting_hook(session, service))
    return session
