"""Security baseline on every response, plus CSRF for form posts.

- CORS: a fixed allowlist (BASE_URL's origin + CORS_ORIGINS) on the JSON paths; an Origin not
  on the list gets no CORS headers (never reflected). No credentials mode: the API uses
  bearer tokens, not cookies.
- CSP (server/csp.py) with `frame-ancestors` limited to Outlook's web hosts, those of
  FRAME_ANCESTORS_EXTRA and 'self' (the preview); only pages that render `office_js_script()`
  may load Office.js and what it loads, and no page loads anything else from elsewhere.
- nosniff, Referrer-Policy, HSTS when served over HTTPS, Cache-Control: no-store on API and
  sign-in responses.
- CSRF: unsafe requests with a form body (what a cross-site form can send) must carry the
  per-session token (form field `csrf_token` or header X-CSRF-Token); requests carrying an
  Authorization header are exempt (a cross-site form cannot set one).
- Behind reverse proxies (TRUSTED_PROXY_HOPS) the client address and scheme come from their
  X-Forwarded-* headers; otherwise every user would share the proxy's address (and its sign-in
  rate limit, server/ratelimit.py).
"""

from __future__ import annotations

import hmac
import logging
import secrets
import time
from collections.abc import Callable
from typing import Any, TypeVar
from urllib.parse import urlparse

from flask import Flask, current_app, g, request, session
from flask_cors import CORS
from markupsafe import Markup
from werkzeug.middleware.proxy_fix import ProxyFix

from .csp import frame_ancestors, page_policy
from .errors import ApiError

log = logging.getLogger(__name__)
F = TypeVar("F", bound=Callable[..., Any])

JSON_PATHS = (r"/api/*", r"/auth/api/*", r"/admin/api/*")
JSON_API_PREFIXES = ("/api/", "/auth/api/", "/admin/api/")
NO_STORE_PREFIXES = ("/api/", "/auth/", "/admin/api/")
FORM_TYPES = ("application/x-www-form-urlencoded", "multipart/form-data", "text/plain")
UNSAFE_METHODS = frozenset({"POST", "PUT", "PATCH", "DELETE"})
CSRF_SESSION_KEY = "csrf_token"
CSRF_EXEMPT_ATTR = "_csrf_exempt"


def _origin(url: str) -> str:
    parsed = urlparse(url)
    return f"{parsed.scheme}://{parsed.netloc}"


def cors_origins(base_url: str, extra: tuple[str, ...]) -> list[str]:
    origins = [_origin(base_url)]
    for origin in extra:
        parsed = urlparse(origin)
        if (
            parsed.scheme not in ("http", "https")
            or not parsed.netloc
            or any(c in origin for c in "*\\]?$^[]()")
        ):
            raise ValueError(f"CORS_ORIGINS: {origin!r} is not a scheme://host[:port] origin")
        origins.append(_origin(origin))
    return sorted(set(origins))


def page_is_secure() -> bool:
    """Served over HTTPS (directly or, with TRUSTED_PROXY_HOPS, behind a proxy), or deployed
    so: Outlook reaches every deployment over https://."""
    return request.is_secure or current_app.config["BASE_URL"].startswith("https://")


def allowed_frame_ancestors() -> list[str]:
    return frame_ancestors(current_app.config.get("FRAME_ANCESTORS_EXTRA") or ())


def office_js_script() -> Markup:
    """The Office.js <script> tag for a template; the page's CSP then allows what Office.js
    loads (server/csp.py). Pages without it allow no script from elsewhere."""
    g.loads_office_js = True
    url = current_app.config["OFFICE_JS_URL"]
    return Markup('<script src="{}"></script>').format(url)


def csrf_token() -> str:
    """The per-session CSRF token (created on first use); put it in every form."""
    token = session.get(CSRF_SESSION_KEY)
    if not token:
        token = secrets.token_urlsafe(32)
        session[CSRF_SESSION_KEY] = token
    return token


def csrf_exempt(view: F) -> F:
    setattr(view, CSRF_EXEMPT_ATTR, True)
    return view


def _check_csrf() -> None:
    if request.method not in UNSAFE_METHODS or "Authorization" in request.headers:
        return
    if request.path.startswith(JSON_API_PREFIXES):
        # These paths never read the session cookie (auth/decorators.py: bearer only), so a
        # cross-site form carries no credential there; the view answers 401 to a caller
        # without a token, which says what is actually missing (403 "csrf_failed" did not).
        return
    if not (request.mimetype or "").startswith(FORM_TYPES) and request.mimetype:
        return
    view = current_app.view_functions.get(request.endpoint or "")
    if view is not None and getattr(view, CSRF_EXEMPT_ATTR, False):
        return
    expected = session.get(CSRF_SESSION_KEY, "")
    given = request.form.get("csrf_token") or request.headers.get("X-CSRF-Token", "")
    # Bytes: compare_digest refuses str with non-ASCII characters (TypeError, a 500).
    if not expected or not given or not hmac.compare_digest(expected.encode(), given.encode()):
        raise ApiError(403, "csrf_failed", "The form expired; reload the page and try again.")


def _set_headers(response):
    headers = response.headers
    config = current_app.config
    policy = headers.get("Content-Security-Policy")
    ancestors = allowed_frame_ancestors()
    if policy is None:
        office_js_url = config["OFFICE_JS_URL"] if g.get("loads_office_js") else ""
        headers["Content-Security-Policy"] = page_policy(
            config["MS_AUTHORITY_HOST"], ancestors, office_js_url, page_is_secure()
        )
    elif "frame-ancestors" not in policy:
        # A view with its own policy still may only be framed by Outlook.
        headers["Content-Security-Policy"] = (
            f"{policy.rstrip('; ')}; frame-ancestors {' '.join(ancestors)}"
        )
    headers.setdefault("X-Content-Type-Options", "nosniff")
    headers.setdefault("Referrer-Policy", "strict-origin-when-cross-origin")
    if request.is_secure or config["BASE_URL"].startswith("https://"):
        headers.setdefault("Strict-Transport-Security", "max-age=31536000; includeSubDomains")
    if request.path.startswith(NO_STORE_PREFIXES):
        headers["Cache-Control"] = "no-store"
        headers.setdefault("Pragma", "no-cache")
    if response.status_code == 429 and "Retry-After" not in headers:
        headers["Retry-After"] = str(60 - int(time.time()) % 60)
    return response


def init_app(app: Flask) -> None:
    # The signed session cookie (sign-in state, browser pages' session token): script cannot
    # read it, and cross-site subrequests do not carry it. The pane uses bearer tokens instead.
    app.config["SESSION_COOKIE_NAME"] = "courier_session"
    app.config["SESSION_COOKIE_HTTPONLY"] = True
    app.config["SESSION_COOKIE_SAMESITE"] = "Lax"
    app.config["SESSION_COOKIE_SECURE"] = app.config["BASE_URL"].startswith("https://")
    origins = cors_origins(app.config["BASE_URL"], tuple(app.config.get("CORS_ORIGINS") or ()))
    CORS(
        app,
        resources={path: {"origins": origins} for path in JSON_PATHS},
        supports_credentials=False,
        allow_headers=["Authorization", "Content-Type", "X-CSRF-Token"],
        expose_headers=["Retry-After"],
        max_age=600,
    )
    hops = int(app.config.get("TRUSTED_PROXY_HOPS") or 0)
    if hops > 0:
        app.wsgi_app = ProxyFix(app.wsgi_app, x_for=hops, x_proto=hops, x_host=hops)
    app.before_request(_check_csrf)
    app.after_request(_set_headers)
    app.jinja_env.globals["csrf_token"] = csrf_token
    app.jinja_env.globals["office_js_script"] = office_js_script
