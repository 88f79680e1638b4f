"""Application mode in the admin console, in headless Chromium against the sandbox: an admin
grants consent for the application permissions on Microsoft's page, picks a Microsoft 365
group, switches to application mode, runs the preflight, and watches the group's members —
who never signed in — move from "not started" to "up to date" as the worker syncs them; and
the Users page's Scope filter, used with the keyboard only.
Screenshots at 1280 and 768 px and an axe-core scan of each new page."""

from __future__ import annotations

import json

import pytest
from sqlalchemy import select

from server.models.tenancy import User
from server.sandbox.directory import DEMO_TENANT_ID, DEMO_USERS
from server.sandbox.graph_state import DEFAULT_EVENTS, DEFAULT_MESSAGES, DEFAULT_SEED
from server.sync.session import run_session
from tests.e2e.test_admin_console import (  # noqa: F401 (fixtures)
    Console,
    axe_script,
    browser,
    crm_adapter,
    sign_in_through_start_page,
)

pytestmark = pytest.mark.e2e
ALEX, BIANCA, CHEN, DANA = (u.email for u in DEMO_USERS[0:4])
GROUP_MEMBERS = (BIANCA, CHEN, DANA)  # Sales team, Dana through the nested Sales EMEA


def state_of(console: Console, email: str) -> str:
    return console.row(email).locator(".state").inner_text().strip()


@pytest.fixture
def small_mailboxes(pane_server):
    sandbox = pane_server.sandbox
    sandbox.control("/_sandbox/graph/configure", {"messages": 30, "events": 4, "seed": 9})
    yield
    # A reset keeps the last configured size: give the next test on this worker the default.
    defaults = {"messages": DEFAULT_MESSAGES, "events": DEFAULT_EVENTS, "seed": DEFAULT_SEED}
    sandbox.control("/_sandbox/graph/configure", defaults)


def test_application_mode_end_to_end(
    browser,  # noqa: F811
    pane_server,
    artifacts_dir,
    axe_script,  # noqa: F811
    small_mailboxes,
):
    page = browser.pages[0] if browser.pages else browser.new_page()
    console = Console(page, pane_server, artifacts_dir, axe_script)
    sign_in_through_start_page(console)

    console.go("/admin/sync-mode")
    page.locator("h1", has_text="Sync mode").wait_for()
    assert page.locator("[data-mode]").get_attribute("data-mode") == "delegated"
    console.shot("sync-mode-start")
    console.scan("sync-mode")

    # Consent on Microsoft's page (the sandbox's), back on the success page.
    page.click("#grant-app-consent")
    page.locator("h1", has_text="Permissions requested").wait_for()
    page.click('button:has-text("Accept")')
    page.wait_for_url("**/admin/sync-mode/consent/done**")
    assert "Consent granted" in page.locator("h1").inner_text(), page.content()[:3000]
    console.shot("app-consent-done")
    console.scan("app-consent-done")

    # Pick the group.
    page.click("text=choose who is synced")
    page.fill('input[name="group_q"]', "Sales")
    page.click("text=Find groups")
    page.locator("#group-results li[data-group-id]").first.wait_for()
    assert page.locator("#group-results li[data-group-id]").count() == 2
    page.click('button[aria-label="Sync the members of Sales team"]')
    page.locator(".flash", has_text="3 joined").wait_for()
    assert page.locator("#scope-now").get_attribute("data-kind") == "group"

    # Application mode on.
    page.check('input[name="mode"][value="application"]')
    page.click("text=Save sync mode")
    page.locator(".flash", has_text="Application mode is on").wait_for()
    assert page.locator("#grant-state").get_attribute("data-state") == "granted"
    console.shot("sync-mode")
    page.set_viewport_size({"width": 768, "height": 900})
    console.shot("sync-mode-768")
    page.set_viewport_size({"width": 1280, "height": 900})
    console.scan("sync-mode-application")

    # Preflight: the application mode checks.
    console.go("/admin/deployment")
    page.click("text=Run the checks")
    page.locator("#preflight").wait_for()
    for name in ("roles the sync needs", "inside the scope is readable"):
        assert page.locator('#preflight tr[data-ok="true"]', has_text=name).count() == 1, name
    outside = '#preflight tr[data-ok="{}"]:has-text("outside the scope is refused")'
    assert "access policy" in page.locator(outside.format("false")).inner_text()
    # The Exchange admin limits the application to the group (an application access policy).
    pane_server.sandbox.control(
        "/_sandbox/graph/access-policy",
        {"tenant_id": DEMO_TENANT_ID, "allowed": [u.object_id for u in DEMO_USERS[1:4]]},
    )
    console.go("/admin/deployment?preflight=1")  # the link again would only scroll
    page.locator(outside.format("true")).wait_for()
    assert page.locator('#preflight tr[data-ok="false"]', has_text="scope").count() == 0
    console.shot("deployment-app-mode")

    # Users: the group's members, never signed in, not started; the worker syncs them.
    console.go("/admin/users")
    for email in GROUP_MEMBERS:
        assert "in scope" in console.row(email).inner_text(), email
        assert state_of(console, email) == "not started", email
    console.shot("users-app-scope-before")
    ids = pane_server.run(
        lambda db: list(db.scalars(select(User.id).where(User.email.in_(GROUP_MEMBERS))))
    )
    results = [pane_server.run(lambda db, uid=uid: run_session(uid, "now")) for uid in ids]
    assert all(r["status"] == "succeeded" for r in results), results
    console.go("/admin/users")
    for email in GROUP_MEMBERS:
        assert state_of(console, email) == "up to date", email
    console.shot("users-app-scope")
    page.set_viewport_size({"width": 768, "height": 900})
    console.shot("users-app-scope-768")
    page.set_viewport_size({"width": 1280, "height": 900})

    console.go("/admin/audit")
    for action in ("consent.app_granted", "scope.changed", "sync_mode.changed"):
        assert page.locator(f'tr[data-action="{action}"]').count() >= 1, action

    assert not console.violations, json.dumps(console.violations, indent=1)


def _put_in_scope(db, email: str) -> None:
    db.scalar(select(User).where(User.email == email)).app_scope = "in"
    db.commit()


def _listed(console: Console) -> list[str]:
    return console.page.locator("tbody tr td:nth-child(3)").all_inner_texts()


def _filter_by_keyboard(console: Console, typed: str) -> None:
    """Focus the Scope list, pick by typing (type-ahead), Tab to Filter, press Enter."""
    page = console.page
    page.focus('select[name="scope"]')
    page.keyboard.type(typed)
    page.keyboard.press("Tab")  # Per page
    page.keyboard.press("Tab")  # Filter
    with page.expect_navigation():
        page.keyboard.press("Enter")


def test_scope_filter_with_the_keyboard(
    browser,  # noqa: F811
    pane_server,
    artifacts_dir,
    axe_script,  # noqa: F811
):
    page = browser.pages[0] if browser.pages else browser.new_page()
    console = Console(page, pane_server, artifacts_dir, axe_script)
    sign_in_through_start_page(console)
    console.go("/admin/users")
    page.click("text=Refresh now")
    console.flash("Directory refreshed")
    pane_server.run(lambda db: _put_in_scope(db, ALEX))

    _filter_by_keyboard(console, "in")
    assert "scope=in" in page.url
    assert _listed(console) == [ALEX]
    assert page.locator('select[name="scope"]').input_value() == "in"
    assert console.row(ALEX).locator("td[data-scope]").inner_text() == "in scope"
    console.visit("users-scope-in")

    _filter_by_keyboard(console, "out")
    assert "scope=out" in page.url
    listed = _listed(console)
    assert ALEX not in listed and CHEN in listed  # directory-only people are out
    console.visit("users-scope-out")
    assert not console.violations, console.violations
