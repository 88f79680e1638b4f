"""Property-based API testing with Schemathesis against our own OpenAPI document
(/api/openapi.json, server/api/openapi*.py): every operation, generated valid and invalid
inputs, as an admin and as a plain user. Fails on any 5xx and on any response the document
does not describe (status code, content type, body schema, headers).

At least MIN_CASES cases run in total (counted, and asserted). The run is deterministic
(derandomized Hypothesis, no example database) so CI failures reproduce locally.

Excluded on purpose: POST /auth/api/signout and POST /auth/api/disconnect. Both end the
session whose token the run sends (disconnect ends every session of the user); after the
first generated call every later case would only test "401 Unauthorized", so the run would
stop testing anything. They are exercised by tests/integration/test_signin_flow.py instead.
No stateful (link-following) phase runs, for the same reason: following links from any
response could reach those two operations.
"""

from __future__ import annotations

from collections import Counter

import pytest
import schemathesis
from hypothesis import HealthCheck, Phase, given, settings
from schemathesis import GenerationMode
from schemathesis.checks import not_a_server_error
from schemathesis.specs.openapi.checks import (
    content_type_conformance,
    response_headers_conformance,
    response_schema_conformance,
    status_code_conformance,
)

from server.auth.sessions import issue_session
from server.models.tenancy import User

from .pane_fixtures import build_world

MIN_CASES = 1_000
# Cases per operation and generation mode (Hypothesis stops early when an operation's inputs
# are exhausted, e.g. a GET without parameters has one).
EXAMPLES = 12
SIGNS_THE_USER_OUT = {("POST", "/auth/api/signout"), ("POST", "/auth/api/disconnect")}
CHECKS = [
    not_a_server_error,
    status_code_conformance,
    content_type_conformance,
    response_schema_conformance,
    response_headers_conformance,
]


@pytest.fixture
def tokens(db) -> dict[str, str]:
    world = build_world(db)
    admin = User(
        org_id=world.user.org_id,
        tenant_id=world.user.tenant_id,
        object_id="oid-ada",
        email="ada@courier-demo.test",
        display_name="Ada Admin",
        aliases=[],
        role="admin",
    )
    db.add(admin)
    db.commit()
    return {"user": issue_session(world.user), "admin": issue_session(admin)}


def _run_operation(
    operation,
    headers: dict[str, str],
    mode: GenerationMode,
    seen: Counter,
    statuses: Counter,
) -> None:
    @settings(
        max_examples=EXAMPLES,
        deadline=None,
        database=None,
        derandomize=True,
        suppress_health_check=list(HealthCheck),
        phases=[Phase.explicit, Phase.generate, Phase.shrink],
    )
    @given(case=operation.as_strategy(generation_mode=mode))
    def run(case) -> None:
        seen[operation.label] += 1
        # Raises on the first failure, with a curl command that reproduces it.
        response = case.call_and_validate(headers=headers, checks=CHECKS)
        statuses[response.status_code] += 1

    run()


def test_the_api_holds_against_generated_requests(app, tokens):
    schema = schemathesis.openapi.from_wsgi("/api/openapi.json", app)
    operations = [
        result.ok()
        for result in schema.get_all_operations()
        if (result.ok().method.upper(), result.ok().path) not in SIGNS_THE_USER_OUT
    ]
    assert {"/api/saves", "/api/threads", "/auth/api/exchange"} <= {o.path for o in operations}
    seen: Counter[str] = Counter()
    statuses: Counter[int] = Counter()
    for role, token in tokens.items():
        headers = {"Authorization": f"Bearer {token}"}
        for operation in operations:
            for mode in (GenerationMode.POSITIVE, GenerationMode.NEGATIVE):
                _run_operation(operation, headers, mode, seen, statuses)
    total = sum(seen.values())
    print(f"schemathesis: {total} cases, statuses {dict(sorted(statuses.items()))}")
    print("per operation:", dict(seen))
    assert total >= MIN_CASES, f"only {total} cases ran: {dict(seen)}"
