"""The pane under the rules of real Outlook (issue 16, point 7), enforced by the simulated Office
(addin/preview/office-sim.js, each rule sourced there): the dialog API's errors, an ItemChanged
that does not come, several mailboxes in one Outlook, an Office.js that never becomes ready, and
a recently sent item whose internetMessageId Outlook does not have yet."""

from __future__ import annotations

import uuid
from datetime import datetime

import pytest
from sqlalchemy import select

from server.mail.graph_parse import parse_datetime
from server.models.ledger import LedgerEntry

from .conftest import DEMO_EMAIL, Pane, known_contact, sign_in_by_token
from .test_pane import email_from, run_background_jobs, sign_in_with_dialog

pytestmark = pytest.mark.e2e
builtin_only = pytest.mark.parametrize("crm_adapter", ["builtin"], indirect=True)
salesforce_only = pytest.mark.parametrize("crm_adapter", ["salesforce"], indirect=True)

# displayDialogAsync from the pane's frame, outside any user gesture: the error code, or "opened".
OPEN_DIALOG = """(_body, [url, options]) => new Promise((done) =>
  Office.context.ui.displayDialogAsync(url, options, (r) =>
    done(r.status === "failed" ? r.error.code : "opened")))"""


def select_without_item_changed(pane: Pane, message_id: str) -> None:
    pane.page.evaluate("id => CourierPreviewHost.select(id, {itemChanged: false})", message_id)


# --- the dialog API ----------------------------------------------------------------------------


@builtin_only
def test_the_simulated_dialog_api_is_as_strict_as_office(pane):
    pane.open_preview()
    body = pane.frame.locator("body")
    pane.frame.locator("#signin").wait_for()
    origin = pane.server.url
    port = origin.rsplit(":", 1)[1]
    same = f"{origin}/auth/signin?mode=dialog"
    assert body.evaluate(OPEN_DIALOG, ["https://example.com/start", {}]) == 12004
    assert body.evaluate(OPEN_DIALOG, [f"https://localhost:{port}/x", {}]) == 12004
    assert body.evaluate(OPEN_DIALOG, [f"http://127.0.0.1:{port}/x", {}]) == 12005
    # Not in the user's click, with the prompt turned off: the browser blocks the window.
    assert body.evaluate(OPEN_DIALOG, [same, {"promptBeforeOpen": False}]) == 12011

    with pane.context.expect_page() as popup_info:
        pane.frame.locator("#signin").click()  # in the click: it opens
    popup = popup_info.value
    popup.wait_for_load_state()
    # One dialog per host window: a second one fails with 12007, and the pane says so.
    assert body.evaluate(OPEN_DIALOG, [same, {}]) == 12007
    pane.frame.locator("#signin").click()
    alert = pane.frame.locator(".state-signedout .error-text")
    alert.wait_for()
    assert "already open" in alert.inner_text()
    pane.screenshot("dialog-already-open")
    # messageParent takes a string, number or boolean, nothing else: neither Office's call nor
    # the channel a dialog page delivers through (the dialog is on the sign-in page by now).
    refused = body.evaluate(
        """() => [() => Office.context.ui.messageParent({code: "x"}),
                  () => window.__courierSimDialog.deliver({code: "x"}),
                  () => window.__courierSimDialog.deliver(null)].map((call) => {
          try { call(); return "taken"; } catch (e) { return e.name; }
        })"""
    )
    assert refused == ["TypeError", "TypeError", "TypeError"]
    popup.locator(f'button[data-email="{DEMO_EMAIL}"]').click()
    popup.wait_for_event("close", timeout=15_000)
    pane.frame.locator(".state-empty").wait_for()  # and the sign-in still completes
    assert not pane.errors


@salesforce_only
def test_connect_salesforce_opens_the_dialog_in_the_click_on_our_own_start_page(pane):
    sign_in_by_token(pane, connect_crm=False)
    pane.open_preview()
    pane.open_message(email_from("x@unknown-prospect.test", "Xavier", subject="Connect"))
    first_pages: list[str] = []
    pane.context.on(
        "request",
        lambda r: first_pages.append(r.url) if "/crm/salesforce/dialog" in r.url else None,
    )
    with pane.context.expect_page() as popup_info:
        pane.frame.locator("#crm-connect").click()
    popup = popup_info.value
    allow = popup.locator("#allow")
    allow.wait_for()
    assert first_pages and first_pages[0].startswith(f"{pane.server.url}/crm/salesforce/dialog?")
    assert "ticket=" in first_pages[0]
    allow.click()
    popup.wait_for_event("close", timeout=15_000)
    pane.frame.locator('li.participant[data-address="x@unknown-prospect.test"]').wait_for()
    assert pane.server.crm_connection()["connected"]
    assert not pane.errors


@salesforce_only
def test_a_blocked_or_second_connect_window_is_explained(pane):
    sign_in_by_token(pane, connect_crm=False)
    pane.open_preview()
    pane.open_message(email_from("y@unknown-prospect.test", "Yara", subject="Blocked"))
    frame = pane.frame
    body = frame.locator("body")
    # A browser that blocks the window anyway (Safari set to block all pop-ups: 12011).
    body.evaluate("() => { window.__open = window.open; window.open = () => null; }")
    frame.locator("#crm-connect").click()
    reason = frame.locator(".state-connect .error-text")
    reason.wait_for()
    assert "blocked the window" in reason.inner_text()
    pane.screenshot("salesforce-popup-blocked")

    body.evaluate("() => { window.open = window.__open; }")
    with pane.context.expect_page() as popup_info:
        frame.locator("#crm-connect").click()
    popup = popup_info.value
    popup.locator("#allow").wait_for()
    frame.locator("#crm-connect").click()  # again, while the window is open
    frame.locator(".state-connect .error-text", has_text="already open").wait_for()
    popup.locator("#allow").click()  # the first window still finishes the connection
    popup.wait_for_event("close", timeout=15_000)
    frame.locator('li.participant[data-address="y@unknown-prospect.test"]').wait_for()
    assert pane.server.crm_connection()["connected"]
    assert not pane.errors


# --- the selected item ---------------------------------------------------------------------------


def test_save_never_saves_an_email_that_is_no_longer_selected(pane):
    """Outlook changed the selection without ItemChanged: Save must not save the email the pane
    still shows, but the selected one (after the user has seen it)."""
    sign_in_by_token(pane)
    contact = known_contact(pane.server)
    pane.open_preview()
    shown = email_from(contact.email, contact.name, subject="Shown first")
    selected = email_from(contact.email, contact.name, subject="Selected later")
    pane.add_message(selected)
    pane.open_message(shown)
    frame = pane.frame
    select_without_item_changed(pane, selected["id"])
    frame.locator("#save").click()
    pane.wait_for_item(selected["internetMessageId"])
    assert frame.locator("h2.subject").inner_text() == "Selected later"
    assert pane.server.activity_links(shown["internetMessageId"]) is None
    pane.screenshot("selection-changed-without-event")

    frame.locator("#save").click()
    frame.locator('#saved-state[data-status="saved"]').wait_for()
    assert pane.server.activity_links(selected["internetMessageId"])
    assert pane.server.activity_links(shown["internetMessageId"]) is None
    assert not pane.errors


@builtin_only
def test_each_mailbox_in_one_outlook_has_its_own_session(pane):
    """localStorage is shared by every mailbox open in one Outlook: a session stored for Alex is
    not used for another mailbox (keys carry Office.context.partitionKey and the address)."""
    sign_in_by_token(pane)
    pane.open_preview()
    pane.frame.locator(".state-empty").wait_for()
    other = pane.page.evaluate(
        """me => [...document.querySelectorAll('#user-select option')].map((o) => o.value)
              .find((v) => v !== me)""",
        DEMO_EMAIL,
    )
    pane.page.select_option("#user-select", other)
    pane.page.wait_for_url(f"**user={other.replace('@', '%40')}*")
    pane.frame.locator("#signin").wait_for()
    assert "Alex" not in pane.frame.locator("#status").inner_text()
    pane.screenshot("other-mailbox-signed-out")

    pane.page.select_option("#user-select", DEMO_EMAIL)
    pane.page.wait_for_url(f"**user={DEMO_EMAIL.replace('@', '%40')}*")
    pane.frame.locator(".state-empty").wait_for()  # Alex's own session is still there
    assert pane.frame.locator("#signin").count() == 0
    assert not pane.errors


@builtin_only
def test_an_office_that_never_becomes_ready_is_explained(pane):
    pane.context.add_init_script("window.__courierSimStallOnReady = true;")
    pane.open_preview()
    state = pane.frame.locator(".state-unsupported")
    state.wait_for(timeout=25_000)
    text = state.inner_text()
    assert "not supported" in text and "Outlook on the web" in text
    assert "Starting Courier" not in pane.frame.locator("#app").inner_text()
    pane.screenshot("office-never-ready")
    assert not pane.errors


@builtin_only
def test_a_webview_without_modules_is_told_it_is_unsupported(pane):
    """Internet Explorer's webview (old Outlook on Windows) runs no module script: the pane's
    <script nomodule> says so instead of "Starting Courier…" forever."""
    pane.page.route("**/addin/taskpane.js", lambda route: route.abort())  # as if never run
    pane.open_preview()
    frame = pane.frame
    frame.locator(".state-loading").wait_for()
    nomodule = frame.locator("script[nomodule]")
    assert nomodule.get_attribute("src") == "unsupported.js"
    frame.locator("body").evaluate(
        """() => new Promise((done) => {
          const script = document.createElement("script");
          script.src = "unsupported.js";  // what a browser without modules runs
          script.onload = done;
          document.head.append(script);
        })"""
    )
    text = frame.locator(".state-unsupported").inner_text()
    assert "Internet Explorer" in text and "Outlook on the web" in text
    pane.screenshot("no-modules")


@builtin_only
def test_the_simulated_item_behaves_as_outlook_on_the_web(pane):
    sign_in_by_token(pane)
    pane.open_preview()
    many = [{"address": f"r{i}@unknown-prospect.test", "name": f"R {i}"} for i in range(25)]
    sent = email_from(
        DEMO_EMAIL,
        "Alex Morgan",
        subject="Sent just now",
        to=many,
        cc=many[:22],
        body="<p>Hello <b>there</b></p>",
        folder="sentitems",
        recentlySent=True,
        date="2026-03-02T10:30:00Z",
    )
    pane.add_message(sent)
    pane.select(sent["id"])
    pane.frame.locator(".subject, .state-error").first.wait_for()
    item = pane.frame.locator("body").evaluate(
        """() => new Promise((done) => {
          const item = Office.context.mailbox.item;
          item.body.getAsync(Office.CoercionType.Text, (text) =>
            item.body.getAsync(Office.CoercionType.Html, (html) => done({
              to: item.to.length, cc: item.cc.length, mid: item.internetMessageId,
              created: item.dateTimeCreated.toISOString(), text: text.value, html: html.value,
            })));
        })"""
    )
    assert (item["to"], item["cc"]) == (20, 20)  # collapsed view: 20 recipients at most
    assert item["mid"] == ""  # not available yet on a recently sent item
    assert item["created"] != "2026-03-02T10:30:00.000Z"  # created is not the sent date
    assert "<b>" not in item["text"] and "Hello there" in item["text"]
    assert "<b>there</b>" in item["html"]
    assert not pane.errors


# --- a recently sent item: the pane and the sync meet on one key --------------------------------


def test_a_recently_sent_email_saved_in_the_pane_and_synced_is_saved_once(pane):
    sandbox = pane.server.sandbox
    sandbox.control("/_sandbox/graph/configure", {"messages": 12, "events": 0})
    sign_in_with_dialog(pane)  # a Graph token for the server (it reads what Office withholds)
    contact = known_contact(pane.server)
    user = pane.server.user()
    subject = f"Proposal {uuid.uuid4().hex[:6]}"
    graph = sandbox.control(
        f"/_sandbox/graph/users/{user.object_id}/messages",
        {
            "folder": "sentitems",
            "from": DEMO_EMAIL,
            "to": [contact.email],
            "subject": subject,
            "body": "Here is our proposal.",
        },
    )
    mid = graph["internetMessageId"]
    sent_at = _graph_sent_at(sandbox, user.object_id, graph["id"])
    message = email_from(DEMO_EMAIL, "Alex Morgan", subject=subject, id=graph["id"])
    message.update(
        internetMessageId=mid,  # withheld by the simulated Office: a recently sent item
        to=[{"address": contact.email, "name": contact.name}],
        folder="sentitems",
        recentlySent=True,
        date=sent_at.isoformat(),
    )
    pane.add_message(message)
    pane.select(message["id"])
    pane.wait_for_item(mid)  # keyed by the internetMessageId the server read from Graph
    frame = pane.frame
    frame.locator("#save").click()
    frame.locator('#saved-state[data-status="saved"]').wait_for()
    pane.screenshot("recently-sent-saved")

    from server.sync.jobs import enqueue_session

    pane.server.run(lambda _db: enqueue_session(user.id, "test"))
    run_background_jobs(pane)

    rows = pane.server.run(
        lambda db: [
            (r.item_key, r.status, r.item_at)
            for r in db.scalars(select(LedgerEntry).where(LedgerEntry.subject == subject))
        ]
    )
    assert len(rows) == 1, rows
    key, status, item_at = rows[0]
    assert (key, status) == (mid, "saved")
    # Dated when it was sent (Graph's sentDateTime), not when Outlook created the item.
    assert item_at.replace(tzinfo=None) == sent_at.replace(tzinfo=None)
    assert pane.server.with_crm(lambda crm: list(crm.find_activities([mid]))) == [mid]
    assert not pane.errors


def _graph_sent_at(sandbox, object_id: str, message_id: str) -> datetime:
    from server.sandbox.graph_state import state

    with sandbox.app.app_context():
        box = next(b for b in state().mailboxes.values() if b.user.object_id == object_id)
        message = next(m for _, m, _ in box.added if m["id"] == message_id)
    sent = parse_datetime(message["sentDateTime"])
    assert sent is not None
    return sent
