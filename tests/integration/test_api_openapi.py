"""/api/openapi.json describes exactly the pane API's routes, and what it says about them holds."""

from __future__ import annotations

import re

import pytest


@pytest.fixture
def database_url(sqlite_url):
    return sqlite_url


# Microsoft calls these (Graph change notifications), not the pane: not part of its API.
NOT_PANE_API = ("/api/graph/",)


def _routes(app) -> set[tuple[str, str]]:
    """Every JSON route the pane may call: all of /api and /auth/api."""
    found = set()
    for rule in app.url_map.iter_rules():
        if not rule.rule.startswith(("/api/", "/auth/api/")) or rule.endpoint == "api.openapi":
            continue
        if rule.rule.startswith(NOT_PANE_API):
            continue
        path = re.sub(r"<(?:[^:>]+:)?([^>]+)>", r"{\1}", rule.rule)
        for method in rule.methods - {"HEAD", "OPTIONS"}:
            found.add((path, method.lower()))
    return found


def test_document_describes_every_route(app, client):
    response = client.get("/api/openapi.json")
    assert response.status_code == 200
    doc = response.get_json()
    assert doc["openapi"].startswith("3.")
    described = {(path, method) for path, ops in doc["paths"].items() for method in ops}
    assert described == _routes(app)
    for ops in doc["paths"].values():
        for op in ops.values():
            assert op["summary"] and op["responses"]
            assert {"400", "401"} <= set(op["responses"])


def test_pane_api_calls_are_all_described(client):
    """Every path addin/api.js calls is in the document."""
    from pathlib import Path

    source = (Path(__file__).parents[2] / "addin" / "api.js").read_text()
    called = set(re.findall(r'request\(\s*"[A-Z]+",\s*[`"](/[a-z/]+)', source))
    assert called, "no calls found in addin/api.js"
    doc = client.get("/api/openapi.json").get_json()
    assert called <= set(doc["paths"]), called - set(doc["paths"])


def test_every_schema_reference_resolves(client):
    doc = client.get("/api/openapi.json").get_json()
    text = str(doc)
    for name in re.findall(r"#/components/schemas/(\w+)", text):
        assert name in doc["components"]["schemas"], name
