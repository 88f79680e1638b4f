"""The admin console in headless Chromium: an admin signs in through the start page against
the sandbox and uses every page — changes a data control through its preview (seen in the
audit log and in the next sync), disallows a user (their pane refuses, their sync stops),
grants and removes admin, runs the preflight with a failing check — with a screenshot of each
page at 1280 px (and the users table at 768 px) and an axe-core scan of each page."""

from __future__ import annotations

import json
import os
import subprocess
from pathlib import Path

import pytest
from sqlalchemy import select

from server.models.admin import AuditEvent
from server.models.sync import SyncSession
from server.models.tenancy import User
from server.sync.scheduler import due_user_ids
from server.sync.session import run_session
from tests.e2e.conftest import CHROMIUM, CHROMIUM_ARGS, DEMO_EMAIL, session_storage_key

pytestmark = pytest.mark.e2e
AXE_DIR = Path(__file__).resolve().parent.parent / "axe"
AXE_JS = AXE_DIR / "node_modules" / "axe-core" / "axe.min.js"
BIANCA = "bianca@courier-demo.test"
SERIOUS = ("serious", "critical")


@pytest.fixture
def crm_adapter() -> str:
    return "builtin"  # the console is the same for every CRM; the pane's suite covers both


@pytest.fixture(scope="session")
def axe_script() -> str:
    """axe-core from npm (tests/axe/package-lock.json), installed with `npm ci` when absent."""
    if not AXE_JS.exists():
        subprocess.run(
            ["npm", "ci", "--no-audit", "--no-fund"], cwd=AXE_DIR, check=True, timeout=300
        )
    return AXE_JS.read_text()


@pytest.fixture
def browser(pane_server, tmp_path):
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        context = playwright.chromium.launch_persistent_context(
            str(tmp_path / "admin-profile"),
            executable_path=CHROMIUM,
            headless=True,
            args=CHROMIUM_ARGS,
            ignore_https_errors=True,
            viewport={"width": 1280, "height": 900},
            bypass_csp=True,  # lets the test inject axe-core; the pages themselves run no script
            env={**os.environ, "HOME": str(tmp_path)},
            accept_downloads=True,
        )
        context.set_default_timeout(20_000)
        try:
            yield context
        finally:
            context.close()


class Console:
    def __init__(self, page, server, shots: Path, axe: str):
        self.page, self.server, self.shots, self.axe = page, server, shots, axe
        self.violations: dict[str, list] = {}

    def go(self, path: str) -> None:
        self.page.goto(f"{self.server.url}{path}")

    def shot(self, name: str, full: bool = True) -> Path:
        path = self.shots / f"admin-{name}.png"
        self.page.screenshot(path=str(path), full_page=full)
        return path

    def scan(self, name: str) -> None:
        """axe-core over the current page; keeps serious and critical violations."""
        self.page.add_script_tag(content=self.axe)
        result = self.page.evaluate("async () => await axe.run(document)")
        bad = [
            {"id": v["id"], "impact": v["impact"], "nodes": [n["target"] for n in v["nodes"]][:5]}
            for v in result["violations"]
            if v["impact"] in SERIOUS
        ]
        if bad:
            self.violations[name] = bad

    def act_on(self, email: str, action: str) -> None:
        self.page.locator("tr", has_text=email).locator('input[name="selected"]').check()
        self.page.select_option("#bulk-action", action)
        self.page.click('#people button[type="submit"]')
        self.page.wait_for_load_state()

    def row(self, email: str):
        return self.page.locator("tbody tr", has_text=email)


def sign_in_over_http(server, email: str) -> str:
    """Another person signs in to the pane the way the dialog does (their own cookie jar):
    Microsoft connection stored, session token returned."""
    from urllib.parse import urlsplit

    from server.http import make_http_session
    from server.sandbox.directory import DEMO_USERS
    from tests.integration.signin_helpers import one_time_code, pick_user_on_authorize_page

    person = next(u for u in DEMO_USERS if u.email == email)
    # The app is served over https with the sandbox's development CA.
    http = make_http_session(ca_bundle=server.sandbox.ca_bundle, timeout=10)
    start = http.get(f"{server.url}/auth/signin?mode=dialog", allow_redirects=False, timeout=10)
    callback = urlsplit(
        pick_user_on_authorize_page(server.sandbox, start.headers["Location"], person)
    )
    bridge = http.get(f"{server.url}{callback.path}?{callback.query}", timeout=10)
    answer = http.post(
        f"{server.url}/auth/api/exchange", json={"code": one_time_code(bridge.text)}, timeout=10
    )
    answer.raise_for_status()
    return answer.json()["token"]


def sign_in_through_start_page(console: Console) -> None:
    console.go("/")
    console.page.click("text=Admin console")
    console.page.locator(f'button[data-email="{DEMO_EMAIL}"]').click()
    console.page.wait_for_url(f"{console.server.url}/admin/")


def test_admin_console_end_to_end(browser, pane_server, artifacts_dir, axe_script):
    page = browser.pages[0] if browser.pages else browser.new_page()
    console = Console(page, pane_server, artifacts_dir, axe_script)
    sign_in_through_start_page(console)
    page.locator("h1", has_text="Overview").wait_for()
    console.shot("overview")
    console.scan("overview")

    # Users: read the directory, then grant and remove admin.
    console.go("/admin/users")
    page.click("text=Refresh now")
    page.locator(".flash", has_text="Directory refreshed").wait_for()
    console.act_on(BIANCA, "make_admin")
    assert console.row(BIANCA).locator("td").nth(6).inner_text() == "admin"
    console.act_on(BIANCA, "remove_admin")
    assert console.row(BIANCA).locator("td").nth(6).inner_text() == "user"
    console.shot("users")
    console.scan("users")
    page.set_viewport_size({"width": 768, "height": 900})
    console.shot("users-768")
    page.set_viewport_size({"width": 1280, "height": 900})

    # Disallow Bianca: her pane says so and her sync stops.
    bianca_token = sign_in_over_http(pane_server, BIANCA)
    bianca_id = pane_server.user(BIANCA).id
    pane_page = browser.new_page()
    session = json.dumps({"token": bianca_token, "email": BIANCA.lower()})
    pane_page.add_init_script(
        f"localStorage.setItem({json.dumps(session_storage_key(BIANCA))}, {json.dumps(session)});"
    )
    assert bianca_id in pane_server.run(lambda db: due_user_ids())
    page.check('input[name="restrict"]')
    page.click("text=Save")
    page.locator(".flash", has_text="Only allowed users").wait_for()
    assert console.row(BIANCA).locator("td").nth(7).inner_text() == "no"
    pane_page.goto(f"{pane_server.url}/preview?user={BIANCA}")
    pane_page.wait_for_function("() => window.CourierPreviewHost !== undefined")
    pane_page.locator("li.olk-msg").first.click()
    pane_page.frame_locator("#pane").locator(
        "text=Your administrator has not enabled Courier for your account."
    ).wait_for()
    pane_page.screenshot(path=str(artifacts_dir / "admin-disallowed-pane.png"))
    assert bianca_id not in pane_server.run(lambda db: due_user_ids())
    assert pane_server.run(lambda db: run_session(bianca_id, "now"))["status"] == "disabled"
    page.uncheck('input[name="restrict"]')
    page.click("text=Save")

    # Data controls: a subject keyword, previewed, confirmed, then used by the next sync.
    alex_id = pane_server.user().id
    first = pane_server.run(lambda db: run_session(alex_id, "now"))  # saved before the change
    assert first.get("saved", 0) > 0, first
    from server.models.ledger import LedgerEntry

    subjects = pane_server.run(
        lambda db: db.scalars(
            select(LedgerEntry.subject).where(LedgerEntry.user_id == alex_id)
        ).all()
    )
    keyword = subjects[0].split()[0].lower()  # a word of an item the sync saved
    console.go("/admin/controls")
    console.shot("controls")
    console.scan("controls")
    page.fill("#in-subject_keywords", keyword)
    page.click("text=Preview changes")
    page.locator("h1", has_text="Confirm data controls").wait_for()
    assert f"+ {keyword}" in page.locator('tr[data-setting="subject_keywords"]').inner_text()
    page.locator("#preview").wait_for()
    assert int(page.locator("#newly-skipped").inner_text()) > 0
    console.shot("controls-confirm")
    console.scan("controls-confirm")
    page.click("text=Save these changes")
    page.locator(".flash", has_text="Data controls saved").wait_for()

    def next_session(db):
        db.query(SyncSession).delete()  # the next session starts from a full read
        from server.models.sync import SyncState

        db.query(SyncState).filter(SyncState.user_id == alex_id).delete()
        db.commit()
        return run_session(alex_id, "now")

    pane_server.run(next_session)
    counts = pane_server.run(
        lambda db: db.scalar(select(SyncSession.counts).where(SyncSession.user_id == alex_id))
    )
    assert counts.get("subject_keyword", 0) > 0, counts

    console.go("/admin/audit")
    audit_row = page.locator('tr[data-action="settings.changed"]')
    assert keyword in audit_row.inner_text() and DEMO_EMAIL in audit_row.inner_text()
    for action in ("role.granted", "role.removed", "org.restriction_changed"):
        assert page.locator(f'tr[data-action="{action}"]').count() >= 1, action
    console.shot("audit")
    console.scan("audit")

    console.go(f"/admin/users/{alex_id}")
    assert "organisation" in page.locator('tr[data-setting="subject_keywords"]').inner_text()
    page.fill('input[name="why"]', "pricing")
    page.click("text=Look up")
    page.locator("#why").wait_for()
    assert page.locator("#why tbody tr").count() > 0
    console.shot("user-detail")
    console.scan("user-detail")

    console.go("/admin/activity")
    page.locator("svg.chart").first.wait_for()
    console.shot("activity")
    console.scan("activity")

    # Preflight with one check made to fail: BASE_URL set to http says what to do.
    served_at = pane_server.app.config["BASE_URL"]
    pane_server.app.config["BASE_URL"] = served_at.replace("https://", "http://")
    console.go("/admin/deployment")
    page.click("text=Run the checks")
    failing = page.locator('#preflight tr[data-ok="false"]', has_text="BASE_URL is https")
    assert "Outlook loads add-ins only over HTTPS" in failing.inner_text()
    assert page.locator('#preflight tr[data-ok="true"]', has_text="Graph call").count() == 1
    pane_server.app.config["BASE_URL"] = served_at
    console.shot("deployment")
    console.scan("deployment")

    console.go("/admin/jobs")
    console.shot("jobs")
    console.scan("jobs")

    assert not console.violations, json.dumps(console.violations, indent=1)
    actions = pane_server.run(lambda db: db.scalars(select(AuditEvent.action)).all())
    assert "settings.changed" in actions and "user.allowed" not in actions
    assert (
        pane_server.run(lambda db: db.scalar(select(User.role).where(User.email == BIANCA)))
        == "user"
    )
