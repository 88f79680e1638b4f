"""The pane in a real browser: sign-in, suggestions, save, reopen, follow the selection,
thread auto-save, do-not-sync, create a lead, hostile content; with the Salesforce adapter also
connecting and disconnecting Salesforce from the pane. Every test runs for both CRM adapters
(see conftest.py) and saves screenshots of the pane to artifacts/."""

from __future__ import annotations

import uuid

import pytest
from sqlalchemy import select

from server.models.ledger import LedgerEntry
from server.models.sync import SyncSession

from .conftest import (
    DEMO_EMAIL,
    KnownContact,
    Pane,
    known_contact,
    session_storage_key,
    sign_in_by_token,
)

pytestmark = pytest.mark.e2e


def email_from(sender: str, name: str, **extra) -> dict:
    unique = uuid.uuid4().hex[:10]
    return {
        "id": f"AAMk-test-{unique}",
        "internetMessageId": f"<{unique}@e2e.test>",
        "conversationId": extra.pop("conversationId", f"AAQk-test-{unique}"),
        "subject": extra.pop("subject", "Quarterly review"),
        "from": {"address": sender, "name": name},
        "to": [{"address": DEMO_EMAIL, "name": "Alex Morgan"}],
        "cc": extra.pop("cc", []),
        "body": extra.pop("body", "Hello Alex,\n\nCan we meet next week?\n\nThanks"),
        **extra,
    }


def open_email_from_a_contact(pane: Pane, subject: str) -> tuple[KnownContact, dict]:
    """Signed in, the preview open, and an email from a known contact shown in the pane."""
    sign_in_by_token(pane)
    contact = known_contact(pane.server)
    pane.open_preview()
    message = email_from(contact.email, contact.name, subject=subject)
    pane.open_message(message)
    return contact, message


def activity_links(pane: Pane, key: str) -> set[tuple[str, str]] | None:
    """What the CRM (whichever adapter) links the saved email `key` to."""
    return pane.server.activity_links(key)


def sign_in_with_dialog(pane: Pane, screenshot: bool = False, connect_crm: bool = True) -> None:
    """Click "Sign in", pick the demo user on the sandbox's Microsoft page; the dialog hands
    the one-time code to the pane and closes. The CRM login (Salesforce) is connected first
    unless told otherwise."""
    if connect_crm:
        pane.server.connect_crm()
    pane.open_preview()
    signin = pane.frame.locator("#signin")
    signin.wait_for()
    if screenshot:
        pane.screenshot("signed-out")
    with pane.context.expect_page() as popup_info:
        signin.click()
    popup = popup_info.value
    popup.locator(f'button[data-email="{DEMO_EMAIL}"]').click()
    popup.wait_for_event("close", timeout=15_000)
    pane.frame.locator(".state-empty, .state-loading, .subject").first.wait_for()


def test_sign_in_through_the_office_dialog(pane):
    sign_in_with_dialog(pane, screenshot=True)
    pane.assert_dialog_ran_real_office_js()
    contact = known_contact(pane.server)
    message = email_from(contact.email, contact.name)
    pane.open_message(message)
    status = pane.page.frame_locator("#pane").locator("#status")
    assert "Alex Morgan" in status.inner_text()
    pane.screenshot("signed-in")
    pane.frame.locator("#signout").click()  # and out again: the session is revoked
    pane.frame.locator("#signin").wait_for()
    assert (
        pane.page.evaluate(
            "key => document.getElementById('pane').contentWindow.localStorage.getItem(key)",
            session_storage_key(),
        )
        is None
    )
    assert not pane.errors


def test_known_contact_shows_contact_account_and_opportunities(pane):
    sign_in_by_token(pane)
    contact = known_contact(pane.server)
    pane.open_preview()
    message = email_from(contact.email, contact.name)
    pane.open_message(message)
    frame = pane.frame
    person = frame.locator(f"#pick-contact-{contact.id}")
    assert person.is_checked()
    assert frame.locator(f"#pick-account-{contact.account_id}").is_checked()
    assert frame.locator(f"#pick-opportunity-{contact.opportunity_id}").count() == 1
    text = frame.locator("#app").inner_text()
    assert contact.name in text and contact.account_name in text
    assert contact.opportunity_name in text
    pane.screenshot("known-contact")
    suffix = "" if pane.server.adapter == "builtin" else f"-{pane.server.adapter}"
    pane.page.screenshot(path=str(pane.shots / f"preview-known-contact{suffix}.png"))
    assert not pane.errors


def test_save_then_reopen_and_follow_the_selection(pane):
    sign_in_by_token(pane)
    contact = known_contact(pane.server)
    pane.open_preview()
    first = email_from(contact.email, contact.name, subject="Pricing for next year")
    second = email_from("someone@unknown-prospect.test", "Nina Unknown", subject="Hello there")
    pane.add_message(second)
    pane.open_message(first)
    frame = pane.frame
    chosen = {("contact", contact.id), ("account", contact.account_id)}
    opportunity = frame.locator(f"#pick-opportunity-{contact.opportunity_id}")
    if not opportunity.is_checked():
        opportunity.check()
    chosen.add(("opportunity", contact.opportunity_id))
    frame.locator("#save").click()
    frame.locator('#saved-state[data-status="saved"]').wait_for()
    pane.screenshot("saved")
    assert activity_links(pane, first["internetMessageId"]) == chosen

    pane.select(second["id"])  # the pinned pane follows
    pane.wait_for_item(second["internetMessageId"])
    assert "Nina Unknown" in frame.locator("#app").inner_text()
    assert frame.locator("#saved-state").count() == 0
    pane.screenshot("followed")

    pane.select(first["id"])  # reopened: shown as saved, with its links
    pane.wait_for_item(first["internetMessageId"])
    banner = frame.locator('#saved-state[data-status="saved"]')
    banner.wait_for()
    assert contact.name in banner.inner_text() and contact.account_name in banner.inner_text()
    pane.screenshot("reopened")
    assert not pane.errors


def test_nothing_selected_and_stale_answers_are_dropped(pane):
    sign_in_by_token(pane)
    contact = known_contact(pane.server)
    pane.open_preview()
    a = email_from(contact.email, contact.name, subject="First")
    b = email_from("x@unknown-prospect.test", "Xavier", subject="Second")
    pane.add_message(a)
    pane.add_message(b)
    body = pane.frame.locator("body")
    pane.frame.locator(".state-empty, .subject").first.wait_for()
    body.evaluate(SLOW_FETCH, "First")  # A's answer comes last
    # Select quickly one after the other: only the last selection may be shown.
    pane.page.evaluate(
        "([a, b]) => { CourierPreviewHost.select(a); CourierPreviewHost.select(b); }",
        [a["id"], b["id"]],
    )
    pane.wait_for_item(b["internetMessageId"])
    # A's late answer (if A's request was sent at all) has come and been handled.
    body.evaluate(WAIT_FOR_SLOW_HANDLED)
    assert pane.frame.locator("body").get_attribute("data-item-key") == b["internetMessageId"]
    pane.page.evaluate("() => CourierPreviewHost.select(null)")
    pane.frame.locator(".state-empty").wait_for()
    pane.screenshot("nothing-selected")


def run_background_jobs(pane: Pane) -> None:
    """Run the queued jobs as the project's worker does (CourierSimpleWorker: a fresh app
    context, hence database session, per job). A job that fails fails the test, with why."""
    from rq.registry import FailedJobRegistry

    from server.periodic import CourierSimpleWorker
    from server.queues import all_queues, get_redis

    with pane.server.app.app_context():
        queues = all_queues()
        CourierSimpleWorker(queues, connection=get_redis()).work(burst=True)
        failed = {
            job_id: job.latest_result().exc_string if job.latest_result() else ""
            for queue in queues
            for job_id in FailedJobRegistry(queue=queue).get_job_ids()
            if (job := queue.fetch_job(job_id)) is not None
        }
    assert not failed, failed


def test_thread_auto_save_saves_a_newer_email_in_the_background(pane):
    sandbox = pane.server.sandbox
    sandbox.control("/_sandbox/graph/configure", {"messages": 12, "events": 0})
    sign_in_with_dialog(pane)
    contact = known_contact(pane.server)
    conversation = f"AAQk-thread-{uuid.uuid4().hex[:8]}"
    message = email_from(
        contact.email, contact.name, subject="Contract review", conversationId=conversation
    )
    pane.open_message(message)
    frame = pane.frame
    frame.locator("#auto-save-thread").check()
    frame.locator("#save").click()
    frame.locator('#saved-state[data-status="saved"]').wait_for()
    assert frame.locator("#auto-save-thread").is_checked()
    pane.screenshot("thread-on")
    chosen = activity_links(pane, message["internetMessageId"])

    user = pane.server.user()
    newer = sandbox.control(
        f"/_sandbox/graph/users/{user.object_id}/messages",
        {
            "from": contact.email,
            "conversationId": conversation,
            "subject": "RE: Contract review",
            "body": "Signed copy attached.",
        },
    )
    from server.sync.jobs import enqueue_session

    pane.server.run(lambda _db: enqueue_session(user.id, "test"))
    run_background_jobs(pane)
    statuses = pane.server.run(
        lambda db: [(s.status, s.error) for s in db.scalars(select(SyncSession))]
    )
    assert statuses and all(status == "succeeded" for status, _ in statuses), statuses

    def entry(db):
        row = db.scalar(
            select(LedgerEntry).where(LedgerEntry.item_key == newer["internetMessageId"])
        )
        return None if row is None else (row.status, row.source)

    assert pane.server.run(entry) == ("saved", "thread")
    assert activity_links(pane, newer["internetMessageId"]) == chosen

    # The newer email, opened in Outlook, shows as saved by the thread rule.
    reply = email_from(
        contact.email, contact.name, subject="RE: Contract review", conversationId=conversation
    )
    reply["internetMessageId"] = newer["internetMessageId"]
    pane.add_message(reply)
    pane.select(reply["id"])
    pane.wait_for_item(newer["internetMessageId"])
    frame.locator('#saved-state[data-status="saved"]').wait_for()
    pane.screenshot("thread-reply-saved")

    frame.locator("#auto-save-thread").uncheck()  # and it can be switched off
    frame.locator("#save-msg", has_text="off").wait_for()
    assert not pane.errors


def test_do_not_sync_a_participant(pane):
    contact, message = open_email_from_a_contact(pane, "Catch-up")
    frame = pane.frame
    frame.locator("#dont-sync summary").click()  # after Save in the tab order
    frame.get_by_role("button", name=f"Do not sync {contact.email}").click()
    row = frame.locator(f'li.participant[data-address="{contact.email}"]')
    row.locator(".badge-blocked").wait_for()
    assert row.locator("input.pick").count() == 0
    pane.screenshot("blocked")
    if frame.locator("input.pick:checked").count():
        frame.locator("#save").click()
        frame.locator("#saved-state").wait_for()
    links = activity_links(pane, message["internetMessageId"]) or set()
    assert ("contact", contact.id) not in links
    assert not pane.errors


def test_create_a_lead_for_an_unknown_address_and_link_it(pane):
    sign_in_by_token(pane)
    pane.open_preview()
    address = f"nora.new{uuid.uuid4().hex[:6]}@fresh-prospect.test"
    message = email_from(address, "Nora New", subject="Interested in a demo")
    pane.open_message(message)
    frame = pane.frame
    frame.get_by_role("button", name=f"Create a lead for {address}").click()
    form = frame.locator("form.create-form")
    assert form.locator("#cf-name").input_value() == "Nora New"
    assert form.locator("#cf-company").input_value() == "Fresh Prospect"
    pane.screenshot("create-lead-form")
    form.get_by_role("button", name="Create lead").click()
    row = frame.locator(f'li.participant[data-address="{address}"]')
    row.locator(".badge-matched").wait_for()
    lead_id = pane.server.find_person(address, "lead")
    assert frame.locator(f"#pick-lead-{lead_id}").is_checked()
    frame.locator("#save").click()
    frame.locator('#saved-state[data-status="saved"]').wait_for()
    pane.screenshot("lead-linked")
    assert ("lead", lead_id) in activity_links(pane, message["internetMessageId"])
    assert not pane.errors


HOSTILE = {
    "subject": '<script>window.top.__pwned = "subject"</script> Invoice javascript:alert(1)',
    "name": "<img src=x onerror=\"window.top.__pwned='name'\">Mallory",
    "body": (
        '<svg onload="window.top.__pwned=\'body\'"></svg><a href="javascript:'
        'window.top.__pwned=1">click</a><script>window.top.__pwned="body"</script>'
    ),
}


def test_hostile_content_renders_as_text_and_runs_nothing(pane):
    sign_in_by_token(pane)
    pane.open_preview()
    address = "mallory@evil-corp.test"
    message = email_from(
        address,
        HOSTILE["name"],
        subject=HOSTILE["subject"],
        body=HOSTILE["body"],
        cc=[{"address": "javascript:alert(1)", "name": "<b onmouseover=x>"}],
    )
    pane.open_message(message)
    frame = pane.frame
    text = frame.locator("#app").inner_text()
    assert "<script>" in text and "onerror=" in text and "javascript:" in text
    assert (
        frame.locator(
            "#app script, #app img[src='x'], #app svg, #app a[href^='javascript']"
        ).count()
        == 0
    )
    frame.get_by_role("button", name=f"Create a lead for {address}").click()
    assert "onerror" in frame.locator("#cf-name").input_value()
    frame.locator("#cf-name").hover()
    pane.screenshot("hostile")
    pane.page.click("#reading-pane")  # the preview's reading pane shows the body as text too
    reading = pane.page.locator("#reading-pane")
    reading.get_by_text("__pwned", exact=False).first.wait_for()  # rendered, as text
    assert reading.locator("script, svg, img, a[href^='javascript']").count() == 0
    flags = [
        pane.page.evaluate("() => window.__pwned"),
        pane.page.frame_locator("#pane").locator("body").evaluate("() => window.__pwned"),
    ]
    assert flags == [None, None]
    assert not pane.errors


def test_error_state_with_retry_and_an_ended_session(pane):
    sign_in_by_token(pane)
    pane.open_preview()
    contact = known_contact(pane.server)
    broken = email_from(contact.email, contact.name, subject="x" * 2500)  # the API refuses it
    pane.add_message(broken)
    pane.select(broken["id"])
    retry = pane.frame.locator("#retry")
    retry.wait_for()
    assert "subject" in pane.frame.locator(".state-error").inner_text()
    pane.screenshot("error")
    retry.focus()
    pane.page.keyboard.press("Enter")  # keyboard operable: the retry asks again
    pane.frame.locator("#retry").wait_for()

    from server.auth.sessions import revoke_user_sessions

    user_id = pane.server.user().id
    pane.server.run(lambda _db: revoke_user_sessions(user_id))
    fine = email_from(contact.email, contact.name)
    pane.add_message(fine)
    pane.select(fine["id"])
    pane.frame.locator("#signin").wait_for()
    assert "sign in again" in pane.frame.locator(".state-signedout").inner_text().lower()
    pane.screenshot("session-ended")
    assert not pane.errors


def test_search_links_a_record_the_matching_did_not_find(pane):
    sign_in_by_token(pane)
    contact = known_contact(pane.server)
    pane.open_preview()
    message = email_from("buyer@unknown-prospect.test", "Bo Buyer", subject="Referral")
    pane.open_message(message)
    frame = pane.frame
    frame.locator("#search-q").fill(contact.account_name)
    frame.get_by_role("button", name=f"Link {contact.account_name}").first.click()
    box = frame.locator(f"#extra-links #pick-account-{contact.account_id}")
    assert box.is_checked()
    pane.screenshot("search")
    frame.locator("#save").click()
    frame.locator('#saved-state[data-status="saved"]').wait_for()
    assert ("account", contact.account_id) in activity_links(pane, message["internetMessageId"])
    assert not pane.errors


def test_demo_mailbox_messages_open_in_the_pane(pane):
    sign_in_by_token(pane)
    pane.open_preview()
    messages = pane.page.evaluate("() => CourierPreviewHost.messages()")
    # Not the recently sent one: Office withholds its internetMessageId and the server reads it
    # from Graph, for which this token-only sign-in has no grant (test_pane_real_outlook.py).
    with_ids = [m for m in messages if m["internetMessageId"] and not m.get("recentlySent")][:4]
    assert len(with_ids) == 4
    for message in with_ids:
        pane.select(message["id"])  # a click in the message list
        pane.wait_for_item(message["internetMessageId"])
        assert pane.frame.locator("h2.subject").inner_text() == (
            message["subject"] or "(no subject)"
        )
    pane.screenshot("demo-mailbox")
    assert not pane.errors


# A fetch in the pane's frame that delays the requests `slow` matches by 1.5 s and ignores
# cancellation, as a slow network would; `window.__sent` collects every JSON body sent.
# `window.__slowHandled` counts slow answers the pane has read (its `await response.json()`
# resolved) and then run to its next await: the late-answer tests wait until every slow
# request sent has been handled.
SLOW_FETCH = """(_body, slow) => {
  const realFetch = window.fetch.bind(window);
  window.__sent = [];
  window.__slowStarted = 0;
  window.__slowHandled = 0;
  window.fetch = (url, init = {}) => {
    const body = String(init.body || "");
    if (body) window.__sent.push(JSON.parse(body));
    if (slow && (String(url).includes(slow) || body.includes(slow))) {
      window.__slowStarted += 1;
      const { signal, ...rest } = init;
      return new Promise((done) => setTimeout(done, 1500))
        .then(() => realFetch(url, rest))
        .then((response) => {
          const json = response.json.bind(response);
          response.json = () => json().then((value) => {
            setTimeout(() => { window.__slowHandled += 1; }, 0);
            return value;
          });
          return response;
        });
    }
    return realFetch(url, init);
  };
}"""
WAIT_FOR_SLOW = """() => new Promise((done, fail) => {
  const poll = setInterval(() => {
    if (window.__slowStarted) { clearInterval(poll); done(); }
  }, 20);
  setTimeout(() => { clearInterval(poll); fail(new Error("the slow request never started")); },
    10000);
})"""
WAIT_FOR_SLOW_HANDLED = """() => new Promise((done, fail) => {
  const poll = setInterval(() => {
    if (window.__slowHandled >= window.__slowStarted) { clearInterval(poll); done(); }
  }, 20);
  setTimeout(() => { clearInterval(poll); fail(new Error("a slow answer never arrived")); },
    10000);
})"""


def test_a_late_answer_for_the_previous_email_is_discarded(pane):
    """The answer for A arrives after the user moved on to B (and after B's answer): the
    pane keeps showing B."""
    sign_in_by_token(pane)
    contact = known_contact(pane.server)
    pane.open_preview()
    a = email_from(contact.email, contact.name, subject="Slow answer")
    b = email_from("x@unknown-prospect.test", "Xavier", subject="Fast answer")
    pane.add_message(a)
    pane.add_message(b)
    body = pane.frame.locator("body")
    pane.frame.locator(".state-empty, .subject").first.wait_for()
    body.evaluate(SLOW_FETCH, "Slow answer")
    pane.select(a["id"])
    body.evaluate(WAIT_FOR_SLOW)  # A's request is on its way
    pane.select(b["id"])
    pane.wait_for_item(b["internetMessageId"])
    body.evaluate(WAIT_FOR_SLOW_HANDLED)  # A's late answer has arrived and been handled
    assert body.get_attribute("data-item-key") == b["internetMessageId"]
    assert pane.frame.locator("h2.subject").inner_text() == "Fast answer"
    pane.screenshot("late-answer-dropped")
    assert not pane.errors


def test_item_id_is_converted_on_the_web_and_left_alone_on_mobile(pane):
    sign_in_by_token(pane)
    pane.open_preview()
    web = email_from("x@unknown-prospect.test", "Xavier", id="AAMk/web+1")
    mobile = email_from("y@unknown-prospect.test", "Yara", id="AAMk/mobile+2")
    pane.add_message(web)
    pane.add_message(mobile)
    body = pane.frame.locator("body")
    pane.frame.locator(".state-empty, .subject").first.wait_for()
    body.evaluate(SLOW_FETCH, None)
    pane.select(web["id"])
    pane.wait_for_item(web["internetMessageId"])
    sent = body.evaluate("() => window.__sent.filter((b) => b.item).map((b) => b.item.item_id)")
    assert sent[-1] == "AAMk-web_1"  # the simulated convertToRestId's REST form
    # An Outlook mobile host: its ids are REST ids already, and convertToRestId must not run.
    body.evaluate(
        """() => {
          const mailbox = window.Office.context.mailbox;
          mailbox.diagnostics.hostName = "OutlookIOS";
          mailbox.convertToRestId = () => { throw new Error("convertToRestId on mobile"); };
        }"""
    )
    pane.select(mobile["id"])
    pane.wait_for_item(mobile["internetMessageId"])
    sent = body.evaluate("() => window.__sent.filter((b) => b.item).map((b) => b.item.item_id)")
    assert sent[-1] == "AAMk/mobile+2"
    pane.screenshot("mobile-host")
    assert not pane.errors


def test_a_late_search_answer_does_not_replace_a_newer_one(pane):
    sign_in_by_token(pane)
    contact = known_contact(pane.server)
    pane.open_preview()
    message = email_from("buyer@unknown-prospect.test", "Bo Buyer", subject="Referral")
    pane.open_message(message)
    body = pane.frame.locator("body")
    body.evaluate(SLOW_FETCH, "q=zzz")
    box = pane.frame.locator("#search-q")
    box.fill("zzz nothing matches this")
    body.evaluate(WAIT_FOR_SLOW)
    box.fill(contact.account_name)
    link = pane.frame.get_by_role("button", name=f"Link {contact.account_name}").first
    link.wait_for()
    body.evaluate(WAIT_FOR_SLOW_HANDLED)  # the older query's late answer has been handled
    assert link.is_visible()
    assert pane.frame.get_by_text("No records found.").count() == 0
    pane.screenshot("search-late-answer")
    assert not pane.errors


NAMELESS_CONTROLS = """() => [
  ...document.querySelectorAll("button, input, select, textarea, a[href]")]
  .filter((el) => !(el.getAttribute("aria-label") || (el.labels && el.labels.length)
    || el.textContent.trim() || el.title))
  .map((el) => el.outerHTML.slice(0, 160))"""
FOCUSED = """() => {
  const el = document.activeElement;
  const style = getComputedStyle(el);
  return { id: el.id, tag: el.tagName, outline: style.outlineStyle, width: style.outlineWidth };
}"""


def test_keyboard_alone_saves_with_a_visible_focus_and_named_controls(pane):
    contact, message = open_email_from_a_contact(pane, "Keyboard only")
    body = pane.frame.locator("body")
    assert body.evaluate(NAMELESS_CONTROLS) == []
    pane.frame.locator("h2.subject").click()  # focus goes into the pane, on no control
    stops = []
    for _ in range(80):
        pane.page.keyboard.press("Tab")
        focused = body.evaluate(FOCUSED)
        if focused["tag"] == "BODY":
            continue
        stops.append(focused)
        assert focused["outline"] != "none" and focused["width"] != "0px", focused
        if focused["id"] == "save":
            break
    assert stops and stops[-1]["id"] == "save", stops
    pane.screenshot("keyboard-focus")
    pane.page.keyboard.press("Enter")
    pane.frame.locator('#saved-state[data-status="saved"]').wait_for()
    assert ("contact", contact.id) in activity_links(pane, message["internetMessageId"])
    assert not pane.errors
