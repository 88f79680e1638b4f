"""The security baseline on real responses: CSP/frame-ancestors, nosniff, Referrer-Policy,
HSTS over HTTPS, no-store on the API, a CORS allowlist that never reflects strangers, CSRF on
form posts, rate limits on sign-in."""

from __future__ import annotations

import pytest

from server import create_app
from server.security import OUTLOOK_FRAME_ANCESTORS

BASE = "http://127.0.0.1:8000"  # the default BASE_URL: its origin is always allowed


@pytest.fixture
def app_config(sandbox):
    return {**sandbox.settings(), "CORS_ORIGINS": ("https://pane.example.com",)}


@pytest.fixture
def free_tcp_port():
    from server.redis_server import free_port

    return free_port()


def frame_ancestors(response) -> list[str]:
    policy = response.headers["Content-Security-Policy"]
    directive = next(
        d.strip() for d in policy.split(";") if d.strip().startswith("frame-ancestors")
    )
    return directive.split()[1:]


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


def test_pages_allow_script_only_from_self_and_office_js(client):
    policy = client.get("/").headers["Content-Security-Policy"]
    script = next(d for d in policy.split(";") if d.strip().startswith("script-src"))
    assert script.split()[1:] == ["'self'", "https://appsforoffice.microsoft.com"]
    assert "'unsafe-eval'" not in policy and "object-src 'none'" in policy


def test_views_with_their_own_policy_still_get_frame_ancestors(app, client):
    response = client.get("/addin/taskpane.html")
    assert response.status_code == 200
    assert set(frame_ancestors(response)) == {"'self'", *OUTLOOK_FRAME_ANCESTORS}


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
