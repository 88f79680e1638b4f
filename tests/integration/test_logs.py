"""Logs: JSON lines keep `extra` fields, and the OAuth code and tokens never reach them."""

from __future__ import annotations

import json
import logging

import pytest

from server.logs import REDACTED, configure, redact_text

SECRET_CODE = "0.AXoA-secret-authorization-code-Zm9v"


@pytest.fixture
def json_lines(capsys):
    """Log lines as the production handler writes them. Call it once to start (inside the
    test: the handler binds the stderr of the test's phase), then again to read the lines."""
    started = False

    def lines() -> list[dict]:
        nonlocal started
        if not started:
            started = True
            configure(json_lines=True)
            return []
        return [json.loads(line) for line in capsys.readouterr().err.splitlines() if line]

    yield lines
    configure(json_lines=False)


def test_extra_fields_are_kept_with_ids_and_secrets_replaced(json_lines):
    json_lines()
    logging.getLogger("courier.test").info(
        "save queued",
        extra={
            "ledger_id": 42,
            "org_id": 7,
            "code": SECRET_CODE,
            "details": {"refresh_token": "rt-secret", "folder": "inbox"},
        },
    )
    (line,) = json_lines()
    assert line["message"] == "save queued" and line["level"] == "INFO"
    assert line["ledger_id"] == 42 and line["org_id"] == 7
    assert line["code"] == REDACTED
    assert line["details"] == {"refresh_token": REDACTED, "folder": "inbox"}
    assert line["logger"] == "courier.test" and "ts" in line


def test_an_extra_json_cannot_hold_is_still_logged(json_lines):
    from datetime import UTC, datetime

    json_lines()
    logging.getLogger("courier.test").info("x", extra={"when": datetime(2026, 1, 2, tzinfo=UTC)})
    (line,) = json_lines()
    assert line["when"].startswith("2026-01-02")


@pytest.mark.parametrize(
    "text",
    [
        f"GET /auth/callback?code={SECRET_CODE}&state=abc",
        f'token answer {{"access_token": "{SECRET_CODE}", "expires_in": 3599}}',
        f"Authorization: Bearer {SECRET_CODE}",
        f"client_secret={SECRET_CODE}",
    ],
)
def test_secrets_inside_messages_are_replaced(text):
    redacted = redact_text(text)
    assert SECRET_CODE not in redacted and REDACTED in redacted


def test_words_that_only_end_like_a_secret_are_left_alone():
    assert redact_text("postcode=12345 barcode: 9") == "postcode=12345 barcode: 9"


def test_the_sign_in_callback_never_logs_its_code(app, client, json_lines):
    """The one place a code arrives: every line logged while answering it, including the
    request line and the refusal (the state is unknown), is free of it."""
    json_lines()
    answer = client.get(f"/auth/callback?code={SECRET_CODE}&state=unknown-state")
    assert answer.status_code < 500
    lines = json_lines()
    assert lines, "the request should have been logged"
    assert all(SECRET_CODE not in json.dumps(line) for line in lines)
    (request_line,) = [line for line in lines if line["logger"] == "courier.request"]
    assert request_line["path"] == "/auth/callback" and request_line["route"] == "/auth/callback"
    assert request_line["status"] == answer.status_code
    assert request_line["request_id"] == answer.headers["X-Request-Id"]
