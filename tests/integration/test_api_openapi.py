"""/api/openapi.json describes exactly the pane API's routes, and what it says about them holds."""

from __future__ import annotations

import re

import pytest


@pytest.fixture
def database_url(sqlite_url):
    return sqlite_url


def _routes(app) -> set[tuple[str, str]]:
    found = set()
    for rule in app.url_map.iter_rules():
        if not rule.endpoint.startswith("api.") or rule.endpoint == "api.openapi":
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


def test_every_schema_reference_resolves(client):
    doc = client.get("/api/openapi.json").get_json()
    text = str(doc)
    for name in re.findall(r"#/components/schemas/(\w+)", text):
        assert name in doc["components"]["schemas"], name
