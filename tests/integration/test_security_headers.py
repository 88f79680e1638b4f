"""The security baseline on real responses: CSP/frame-ancestors, nosniff, Referrer-Policy,
HSTS over HTTPS, no-store on the API, a CORS allowlist that never reflects strangers, CSRF on
form posts, rate limits on sign-in. What Office.js loads under these policies in Chromium:
tests/e2e/test_officejs_csp.py."""

from __future__ import annotations

import pytest

from server import create_app
from server.config import ConfigError, load_settings
from server.csp import OUTLOOK_FRAME_ANCESTORS
from server.sandbox.directory import DEMO_USERS
from tests.integration.signin_helpers import browser_sign_in

BASE = "http://127.0.0.1:8000"  # the default BASE_URL: its origin is always allowed
OFFICE_JS_DIR = "https://appsforoffice.microsoft.com/lib/1/hosted/"
# Loaded by every Outlook host file of Office.js (server/csp.py), with the page's scheme.
MICROSOFT_AJAX = "https://ajax.aspnetcdn.com/ajax/3.5/MicrosoftAjax.js"


@pytest.fixture
def app_config(sandbox):
    return {**sandbox.settings(), "CORS_ORIGINS": ("https://pane.example.com",)}


@pytest.fixture
def free_tcp_port():
    from server.redis_server import free_port

    return free_port()


def directive(response, name: str) -> list[str]:
    policy = response.headers["Content-Security-Policy"]
    found = [d.split()[1:] for d in policy.split(";") if d.split()[:1] == [name]]
    assert len(found) == 1, f"{name} appears {len(found)} times in {policy!r}"
    return found[0]


def frame_ancestors(response) -> list[str]:
    return directive(response, "frame-ancestors")


@pytest.mark.parametrize("path", ["/", "/healthz", "/api/me", "/auth/signin-nowhere"])
def test_baseline_headers_on_every_response(client, path):
    response = client.get(path)
    assert response.headers["X-Content-Type-Options"] == "nosniff"
    assert response.headers["Referrer-Policy"] == "strict-origin-when-cross-origin"
    ancestors = frame_ancestors(response)
    assert "'self'" in ancestors
    assert "https://outlook.office.com" in ancestors
    assert set(ancestors) == {"'self'", *OUTLOOK_FRAME_ANCESTORS}
    assert "*" not in ancestors and "https:" not in ancestors
    assert "Strict-Transport-Security" not in response.headers  # plain HTTP


def test_pages_without_office_js_allow_script_only_from_self(client):
    response = client.get("/")
    assert directive(response, "script-src") == ["'self'"]
    assert directive(response, "default-src") == ["'self'"]
    policy = response.headers["Content-Security-Policy"]
    assert "'unsafe-eval'" not in policy and "object-src 'none'" in policy


def test_sign_in_bridge_allows_what_office_js_loads(client, sandbox):
    # Outlook's host files of Office.js load MicrosoftAjax.js and wait for it: without it
    # Office.onReady never resolves and the dialog never messages the pane.
    bridge = browser_sign_in(client, sandbox, DEMO_USERS[0])
    assert bridge.status_code == 200 and "office.js" in bridge.text
    scripts = directive(bridge, "script-src")
    assert scripts == ["'self'", OFFICE_JS_DIR, MICROSOFT_AJAX.replace("https:", "http:")]
    assert directive(bridge, "frame-src") == ["'self'", OFFICE_JS_DIR]
    assert directive(bridge, "connect-src") == ["'self'"]


def test_over_https_office_js_pages_allow_microsoft_ajax_over_https_only(app, client):
    response = client.get("/addin/taskpane.html", base_url="https://courier.example.com")
    assert directive(response, "script-src") == ["'self'", OFFICE_JS_DIR, MICROSOFT_AJAX]


def test_pane_policy_has_default_src_and_only_the_office_js_files_it_needs(client):
    response = client.get("/addin/taskpane.html")
    assert directive(response, "default-src") == ["'self'"]
    scripts = directive(response, "script-src")
    assert scripts == ["'self'", OFFICE_JS_DIR, MICROSOFT_AJAX.replace("https:", "http:")]
    # Not the whole public CDN (it hosts script libraries that would run injected markup).
    assert (
        "https://ajax.aspnetcdn.com" not in scripts and "http://ajax.aspnetcdn.com" not in scripts
    )
    assert directive(response, "style-src") == ["'self'"]
    assert directive(response, "connect-src") == ["'self'"]
    assert directive(response, "object-src") == ["'none'"]
    assert set(frame_ancestors(response)) == {"'self'", *OUTLOOK_FRAME_ANCESTORS}


@pytest.mark.parametrize(
    ("path", "content_type"),
    [
        ("/addin/taskpane.html", "text/html; charset=utf-8"),
        ("/addin/taskpane.js", "text/javascript; charset=utf-8"),
        ("/addin/taskpane.css", "text/css; charset=utf-8"),
        ("/", "text/html; charset=utf-8"),
    ],
)
def test_charset_is_named_once(client, path, content_type):
    assert client.get(path).headers["Content-Type"] == content_type


def test_views_with_their_own_policy_still_get_frame_ancestors(app, client):
    response = client.get("/addin/taskpane.html")
    assert response.status_code == 200
    assert set(frame_ancestors(response)) == {"'self'", *OUTLOOK_FRAME_ANCESTORS}


@pytest.mark.parametrize("path", ["/", "/addin/taskpane.html", "/healthz"])
def test_extra_frame_ancestors_from_the_settings(app, client, path):
    gcc_high = ("https://outlook.office365.us", "https://*.office365.us")
    app.config["FRAME_ANCESTORS_EXTRA"] = gcc_high
    ancestors = frame_ancestors(client.get(path))
    assert set(ancestors) == {"'self'", *OUTLOOK_FRAME_ANCESTORS, *gcc_high}


@pytest.mark.parametrize(
    "value",
    [
        "http://mail.contoso.com",
        "https://mail.contoso.com/owa",
        "*",
        "https:",
        "https://*",
        "https://*.com",
        "mail.contoso.com",
        "https://mail.contoso.com?x=1",
        "https://mail.contoso.com:99999",
        "https://user@mail.contoso.com",
        "https://mail.contoso.com; script-src *",
    ],
)
def test_frame_ancestors_extra_accepts_only_https_origins(value):
    with pytest.raises(ConfigError, match="FRAME_ANCESTORS_EXTRA: .* is not an https origin"):
        load_settings({}, {"ENV": "test", "FRAME_ANCESTORS_EXTRA": (value,)})


def test_frame_ancestors_extra_from_the_environment():
    settings = load_settings(
        {"FRAME_ANCESTORS_EXTRA": "https://Mail.Contoso.com:444/, https://*.office365.us"},
        {"ENV": "test"},
    )
    assert settings.FRAME_ANCESTORS_EXTRA == (
        "https://Mail.Contoso.com:444/",
        "https://*.office365.us",
    )
    from server.csp import frame_ancestors as build

    assert build(settings.FRAME_ANCESTORS_EXTRA)[-2:] == [
        "https://mail.contoso.com:444",
        "https://*.office365.us",
    ]


@pytest.mark.parametrize(
    "url",
    [
        "http://appsforoffice.microsoft.com/lib/1/hosted/office.js",
        "https://cdn.example.com/lib/office.min.js",
        "https://cdn.example.com/office.js?v=1",
    ],
)
def test_office_js_url_must_be_an_https_office_js(url):
    with pytest.raises(ConfigError, match="OFFICE_JS_URL: .* is not an https URL of office.js"):
        load_settings({}, {"ENV": "test", "OFFICE_JS_URL": url})


def test_hsts_when_served_over_https(client):
    response = client.get("/healthz", base_url="https://courier.example.com")
    assert response.headers["Strict-Transport-Security"].startswith("max-age=31536000")


def test_api_responses_are_not_cached(client):
    for path in ("/api/me", "/auth/api/exchange"):
        response = client.get(path) if path == "/api/me" else client.post(path, json={})
        assert response.headers["Cache-Control"] == "no-store"
        assert response.is_json and set(response.json) >= {"error", "message"}


@pytest.mark.parametrize("origin", [BASE, "https://pane.example.com"])
def test_cors_allows_listed_origins(client, origin):
    preflight = client.options(
        "/api/me",
        headers={
            "Origin": origin,
            "Access-Control-Request-Method": "GET",
            "Access-Control-Request-Headers": "Authorization",
        },
    )
    assert preflight.headers["Access-Control-Allow-Origin"] == origin
    assert "authorization" in preflight.headers["Access-Control-Allow-Headers"].lower()
    assert "Access-Control-Allow-Credentials" not in preflight.headers


@pytest.mark.parametrize(
    "origin",
    [
        "https://evil.example",
        "null",
        "https://pane.example.com.evil.example",
        "http://pane.example.com",
        "https://127.0.0.1:8000",
    ],
)
def test_cors_never_reflects_other_origins(client, origin):
    preflight = client.options(
        "/api/me",
        headers={
            "Origin": origin,
            "Access-Control-Request-Method": "GET",
        },
    )
    simple = client.get("/api/me", headers={"Origin": origin})
    for response in (preflight, simple):
        assert response.headers.get("Access-Control-Allow-Origin") in (None,)
        assert "*" not in response.headers.get("Access-Control-Allow-Origin", "")


def test_wildcard_cors_origin_refused_at_start(database_url, redis_url):
    with pytest.raises(ValueError, match="CORS_ORIGINS"):
        create_app(
            {
                "ENV": "test",
                "DATABASE_URL": database_url,
                "REDIS_URL": redis_url,
                "CORS_ORIGINS": ("https://*.example.com",),
            }
        )


def test_form_post_without_csrf_token_is_refused(client):
    response = client.post("/auth/signout", data={})
    assert response.status_code == 403
    assert response.json["error"] == "csrf_failed"


def test_form_post_with_csrf_token_is_accepted(client):
    with client.session_transaction() as session:
        session["csrf_token"] = "known-token"
    assert client.post("/auth/signout", data={"csrf_token": "wrong"}).status_code == 403
    response = client.post("/auth/signout", data={"csrf_token": "known-token"})
    assert response.status_code == 302


def test_text_plain_and_bodiless_posts_need_the_token_too(client):
    # What a cross-site page can send without a preflight.
    assert client.post("/auth/signout", data="x", content_type="text/plain").status_code == 403
    assert client.post("/auth/signout").status_code == 403


def test_json_and_bearer_requests_are_not_form_posts(client):
    assert client.post("/auth/api/exchange", json={"code": "nope"}).status_code == 400
    response = client.post(
        "/auth/api/signout", data={"a": "b"}, headers={"Authorization": "Bearer cs_unknown"}
    )
    assert response.status_code == 401  # reached the view: authentication, not CSRF, refused


def test_session_cookie_is_httponly_and_samesite_lax(client, redis_client):
    response = client.get("/auth/signin")
    cookie = next(c for c in response.headers.getlist("Set-Cookie") if "courier_session" in c)
    assert "HttpOnly" in cookie and "SameSite=Lax" in cookie
    assert "Secure" not in cookie  # plain-HTTP development BASE_URL


def test_sign_in_start_when_microsoft_is_unreachable(app, client, free_tcp_port):
    app.config["MS_AUTHORITY_HOST"] = f"https://127.0.0.1:{free_tcp_port}"
    response = client.get("/auth/signin")
    assert response.status_code == 503
    assert b"unreachable" in response.data
