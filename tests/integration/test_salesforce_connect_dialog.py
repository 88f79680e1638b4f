"""The pane's Connect Salesforce dialog starts on our own page named by a ticket the pane made, so
the pane can open the window in the user's click, before any server call (a window opened after
a round trip is blocked: Office error 12011). The ticket's page waits until the pane's
authenticated POST has bound the ticket, then goes on to Salesforce; a ticket works once."""

from __future__ import annotations

import secrets

import pytest

from server.auth.sessions import issue_session

from .test_salesforce_connect import _signed_in_browser, app_config, courier_user  # noqa: F401


def _post(client, user, body):
    token = issue_session(user)
    return client.post(
        "/api/crm/salesforce/connect", headers={"Authorization": f"Bearer {token}"}, json=body
    )


def test_the_dialog_page_waits_for_its_ticket_then_goes_to_salesforce(client, courier_user):  # noqa: F811
    _signed_in_browser(client, courier_user)  # the dialog's browser (the flow is bound to it)
    ticket = secrets.token_hex(24)
    early = client.get(f"/crm/salesforce/dialog?ticket={ticket}")
    assert early.status_code == 200  # not bound yet: a page that looks again in a second
    assert b'http-equiv="refresh"' in early.data and b"attempt=1" in early.data
    assert early.headers["Cache-Control"] == "no-store"

    answer = _post(client, courier_user, {"mode": "dialog", "ticket": ticket})
    assert answer.status_code == 200
    authorize = answer.get_json()["authorize_url"]
    start = client.get(f"/crm/salesforce/dialog?ticket={ticket}&attempt=1")
    assert start.status_code == 302 and start.headers["Location"] == authorize

    again = client.get(f"/crm/salesforce/dialog?ticket={ticket}")  # single use
    assert again.status_code == 200 and b'http-equiv="refresh"' in again.data


def test_a_ticket_never_bound_ends_on_the_bridge_page_with_the_reason(client, courier_user):  # noqa: F811
    _signed_in_browser(client, courier_user)
    ticket = secrets.token_hex(24)
    page = client.get(f"/crm/salesforce/dialog?ticket={ticket}&attempt=15")
    assert page.status_code == 200
    assert b"courier-crm" in page.data and b"could not start" in page.data


def test_a_ticket_cannot_be_taken_twice(client, courier_user):  # noqa: F811
    ticket = secrets.token_hex(24)
    assert _post(client, courier_user, {"mode": "dialog", "ticket": ticket}).status_code == 200
    second = _post(client, courier_user, {"mode": "dialog", "ticket": ticket})
    assert second.status_code == 409 and second.get_json()["error"] == "ticket_in_use"


@pytest.mark.parametrize("ticket", ["short", "x" * 200, "has spaces in it" * 3, 12345, ["a"]])
def test_a_bad_ticket_is_refused(client, courier_user, ticket):  # noqa: F811
    answer = _post(client, courier_user, {"mode": "dialog", "ticket": ticket})
    assert answer.status_code == 400 and answer.get_json()["error"] == "invalid_ticket"
