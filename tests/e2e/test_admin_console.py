"""The admin console in headless Chromium: an admin signs in through the start page against
the sandbox and uses every page and action — sorts and filters users, allows and disallows
(one and in bulk; the pane refuses, the sync stops), switches sync off and on, syncs now,
revokes connections, grants and removes admin, changes a data control through its preview
(seen in the audit log and in the next sync), downloads the manifest (valid against the
schemas), grants admin consent, runs the preflight with a failing check, retries and deletes
a failed job — and, with Salesforce as the CRM, sees the CRM connection, re-auth and budget
pause. Each page is screenshot at 1280 px and 768 px and scanned by axe-core at both."""

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

    def visit(self, name: str) -> None:
        """The current page at 1280 px and at 768 px: a screenshot and an axe scan of each."""
        self.shot(name)
        self.scan(name)
        self.page.set_viewport_size({"width": 768, "height": 900})
        try:
            self.shot(f"{name}-768")
            self.scan(f"{name}-768")
            # Nothing wider than the window: tables scroll inside their own box.
            overflow = self.page.evaluate(
                "() => document.documentElement.scrollWidth - window.innerWidth"
            )
            assert overflow <= 0, f"{name} is {overflow}px wider than 768 px"
        finally:
            self.page.set_viewport_size({"width": 1280, "height": 900})

    def flash(self, text: str) -> None:
        self.page.locator(".flash", has_text=text).first.wait_for()

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


def act_on_many(console: Console, emails: list[str], action: str) -> None:
    for email in emails:
        console.row(email).locator('input[name="selected"]').check()
    console.page.select_option("#bulk-action", action)
    console.page.click('#people button[type="submit"]')
    console.page.wait_for_load_state()


def run_jobs(server) -> None:
    """One burst of a real RQ worker over every queue, in the served app's context."""
    from rq import SimpleWorker

    from server.queues import all_queues, get_redis

    server.run(lambda db: SimpleWorker(all_queues(), connection=get_redis()).work(burst=True))


def test_admin_console_end_to_end(browser, pane_server, artifacts_dir, axe_script):
    page = browser.pages[0] if browser.pages else browser.new_page()
    console = Console(page, pane_server, artifacts_dir, axe_script)
    sign_in_through_start_page(console)
    page.locator("h1", has_text="Overview").wait_for()
    console.visit("overview")

    # Users: read the directory; sort by state; filter; grant and remove admin.
    console.go("/admin/users")
    page.click("text=Refresh now")
    console.flash("Directory refreshed")
    page.click("thead >> text=Sync state")
    assert page.locator('th[aria-sort="ascending"]', has_text="Sync state").count() == 1
    page.select_option('select[name="state"]', "not_started")
    page.click('form[role="search"] button[type="submit"]')
    assert console.row("chen@courier-demo.test").count() == 1  # in the directory only
    states = page.locator("tbody tr td:nth-child(4)").all_inner_texts()
    assert states and all("not started" in text for text in states), states
    page.select_option('select[name="state"]', "")
    page.select_option('select[name="role"]', "admin")
    page.click('form[role="search"] button[type="submit"]')
    assert page.locator("tbody tr").count() == 1 and console.row(DEMO_EMAIL).count() == 1
    console.go("/admin/users")
    console.act_on(BIANCA, "make_admin")
    assert console.row(BIANCA).locator("td").nth(6).inner_text() == "admin"
    console.act_on(BIANCA, "remove_admin")
    assert console.row(BIANCA).locator("td").nth(6).inner_text() == "user"

    # Allow two people in bulk, then disallow Bianca: her pane says so and her sync stops.
    act_on_many(console, [DEMO_EMAIL, BIANCA], "allow")
    console.flash("Allow:")
    for email in (DEMO_EMAIL, BIANCA):
        assert console.row(email).locator("td").nth(7).inner_text() == "yes"
    bianca_token = sign_in_over_http(pane_server, BIANCA)
    bianca_id = pane_server.user(BIANCA).id
    pane_page = browser.new_page()
    session = json.dumps({"token": bianca_token, "email": BIANCA.lower()})
    pane_page.add_init_script(
        f"localStorage.setItem({json.dumps(session_storage_key(BIANCA))}, {json.dumps(session)});"
    )
    assert bianca_id in pane_server.run(lambda db: due_user_ids())
    console.act_on(BIANCA, "disallow")
    assert console.row(BIANCA).locator("td").nth(7).inner_text() == "no"
    page.check('input[name="restrict"]')
    page.click("text=Save")
    console.flash("Only allowed users")
    console.visit("users")
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
    console.flash("Everyone in your organisation")

    # Sync off and on; sync now; revoke connections.
    console.act_on(BIANCA, "disable_sync")
    assert "sync off" in console.row(BIANCA).locator("td").nth(3).inner_text()
    assert "disabled" in console.row(BIANCA).locator("td").nth(3).inner_text()
    console.act_on(BIANCA, "enable_sync")
    assert "sync off" not in console.row(BIANCA).locator("td").nth(3).inner_text()
    console.act_on(DEMO_EMAIL, "sync_now")
    console.flash("Sync now:")
    console.act_on(BIANCA, "revoke_crm")
    console.flash("Revoke CRM connection:")
    console.act_on(BIANCA, "revoke_microsoft")
    console.flash("Revoke Microsoft connection:")
    assert "not started" in console.row(BIANCA).locator("td").nth(3).inner_text()
    gone = pane_page.request.get(
        f"{pane_server.url}/api/sync/health", headers={"Authorization": f"Bearer {bianca_token}"}
    )
    assert gone.status == 401  # her sessions ended with the connection

    # Jobs: the sync-now job waits; a failing job is retried, then deleted.
    from server.queues import enqueue

    console.go("/admin/jobs")
    assert page.locator("section[data-queue] table", has_text="run_session").count() >= 1
    failing = pane_server.run(
        lambda db: enqueue("server.sync.session.no_such_function", queue="default").id
    )
    run_jobs(pane_server)
    console.go("/admin/jobs")
    row = page.locator(f'tr[data-job="{failing}"]')
    assert "no_such_function" in row.inner_text()
    console.visit("jobs")
    row.locator("text=Retry").click()
    console.flash("queued again")
    assert "no_such_function" in page.locator('section[data-queue="default"]').inner_text()
    run_jobs(pane_server)  # it fails again
    console.go("/admin/jobs")
    page.locator(f'tr[data-job="{failing}"]').locator("text=Delete").click()
    console.flash("deleted")
    assert page.locator(f'tr[data-job="{failing}"]').count() == 0

    # Data controls: a subject keyword, previewed, confirmed, then used by the next sync.
    alex_id = pane_server.user().id
    # Alex's "sync now" job (run with the jobs above) saved his mail before the change.
    from server.models.ledger import LedgerEntry

    subjects = pane_server.run(
        lambda db: db.scalars(
            select(LedgerEntry.subject).where(LedgerEntry.user_id == alex_id)
        ).all()
    )
    assert subjects, "the sync-now session saved nothing"
    keyword = subjects[0].split()[0].lower()  # a word of an item the sync saved
    console.go("/admin/controls")
    console.visit("controls")
    page.fill("#in-subject_keywords", keyword)
    page.click("text=Preview changes")
    page.locator("h1", has_text="Confirm data controls").wait_for()
    assert f"+ {keyword}" in page.locator('tr[data-setting="subject_keywords"]').inner_text()
    page.locator("#preview").wait_for()
    assert int(page.locator("#newly-skipped").inner_text()) > 0
    console.visit("controls-confirm")
    page.click("text=Save these changes")
    console.flash("Data controls saved")

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
    for action in (
        "role.granted",
        "role.removed",
        "org.restriction_changed",
        "user.allowed",
        "user.disallowed",
        "sync.disabled",
        "sync.enabled",
        "sync.requested",
        "connection.revoked",
        "job.retry",
        "job.delete",
    ):
        assert page.locator(f'tr[data-action="{action}"]').count() >= 1, action
    console.visit("audit")
    page.select_option('select[name="action"]', "user.disallowed")
    page.click("form >> text=Filter")
    assert page.locator("tbody tr[data-action]").count() == 1
    with page.expect_download() as download:
        page.click("text=Download CSV")
    exported = Path(download.value.path()).read_text()
    assert "user.disallowed" in exported and "user.allowed," not in exported

    console.go(f"/admin/users/{alex_id}")
    assert "organisation" in page.locator('tr[data-setting="subject_keywords"]').inner_text()
    page.fill('input[name="why"]', "pricing")
    page.click("text=Look up")
    page.locator("#why").wait_for()
    assert page.locator("#why tbody tr").count() > 0
    console.visit("user-detail")

    console.go("/admin/activity")
    page.locator("svg.chart").first.wait_for()
    console.visit("activity")

    # Deployment: the manifest downloaded and valid; admin consent; preflight, one failing.
    console.go("/admin/deployment")
    link = page.locator("a", has_text="Download manifest.xml")
    assert link.get_attribute("download") == "manifest.xml"
    # Fetched with the page's own session (headless Chromium cancels an .xml download).
    downloaded = page.request.get(f"{pane_server.url}{link.get_attribute('href')}")
    assert downloaded.ok
    validate_manifest(downloaded.body(), pane_server.url)
    page.get_by_role("button", name="Grant admin consent").click()
    page.get_by_role("button", name="Accept").click()  # Microsoft's (the sandbox's) page
    page.locator("h1", has_text="Admin consent granted").wait_for()
    console.visit("consent-done")
    served_at = pane_server.app.config["BASE_URL"]
    pane_server.app.config["BASE_URL"] = served_at.replace("https://", "http://")
    console.go("/admin/deployment")
    page.click("text=Run the checks")
    failing_check = page.locator('#preflight tr[data-ok="false"]', has_text="BASE_URL is https")
    assert "Outlook loads add-ins only over HTTPS" in failing_check.inner_text()
    assert page.locator('#preflight tr[data-ok="true"]', has_text="Graph call").count() == 1
    pane_server.app.config["BASE_URL"] = served_at
    console.visit("deployment")

    assert not console.violations, json.dumps(console.violations, indent=1)
    actions = pane_server.run(lambda db: db.scalars(select(AuditEvent.action)).all())
    assert "settings.changed" in actions and "consent.granted" in actions
    assert (
        pane_server.run(lambda db: db.scalar(select(User.role).where(User.email == BIANCA)))
        == "user"
    )


def validate_manifest(data: bytes, base_url: str) -> None:
    """The downloaded manifest is for this server and valid against the Office schemas."""
    from lxml import etree

    from tests.integration.test_manifest import SCHEMA_DIR

    assert f"{base_url}/addin/taskpane.html".encode() in data
    entry = SCHEMA_DIR / "OfficeAppManifestV1_1.xsd"
    if not entry.is_file():
        if os.environ.get("REQUIRE_MANIFEST_SCHEMAS") == "1":
            pytest.fail(f"manifest XSDs not found at {SCHEMA_DIR}")
        pytest.skip(f"manifest XSDs not found at {SCHEMA_DIR}")
    schema = etree.XMLSchema(etree.parse(str(entry)))
    assert schema.validate(etree.ElementTree(etree.fromstring(data))), [
        e.message for e in schema.error_log
    ]


@pytest.mark.parametrize("crm_adapter", ["salesforce"])
def test_admin_console_with_salesforce(browser, pane_server, artifacts_dir, axe_script):
    """Where the console differs with an external CRM: the CRM connection, a user who must
    reconnect it (warning, state, link to them), the API budget pause, revoking the CRM."""
    from server.models.crm_connections import SalesforceConnection

    page = browser.pages[0] if browser.pages else browser.new_page()
    console = Console(page, pane_server, artifacts_dir, axe_script)
    sign_in_through_start_page(console)
    sign_in_over_http(pane_server, BIANCA)
    pane_server.connect_crm()
    pane_server.connect_crm(BIANCA)
    alex_id = pane_server.user().id

    # Salesforce answers REQUEST_LIMIT_EXCEEDED once the org's daily allowance is used up:
    # the next sync pauses CRM writes for the org (the budget pause).
    pane_server.sandbox.control(
        "/_sandbox/salesforce/org", {"api_used": 100_000, "daily_limit": 1000}
    )
    assert pane_server.run(lambda db: run_session(alex_id, "now"))["status"] == "paused"

    def must_reconnect(db):  # what a refused Salesforce refresh token records
        row = db.scalar(select(SalesforceConnection).join(User).where(User.email == BIANCA))
        row.needs_reauth = True
        db.commit()

    pane_server.run(must_reconnect)
    console.go("/admin/")
    warnings = page.locator("section", has_text="Needs your attention")
    assert "1 user(s) must reconnect Salesforce" in warnings.inner_text()
    assert "CRM writes are paused until" in warnings.inner_text()
    assert "Salesforce: 2 user(s) connected" in page.locator("main").inner_text()
    console.visit("overview-salesforce")
    warnings.locator('li[data-warning="crm_reauth"] a').click()
    assert console.row(BIANCA).count() == 1 and console.row(DEMO_EMAIL).count() == 0
    assert "needs reauth" in console.row(BIANCA).locator("td").nth(3).inner_text()
    console.visit("users-salesforce")

    console.go("/admin/users")
    console.act_on(BIANCA, "revoke_crm")
    console.flash("Revoke CRM connection:")
    assert (
        pane_server.run(
            lambda db: db.scalar(
                select(SalesforceConnection.id).join(User).where(User.email == BIANCA)
            )
        )
        is None
    )
    console.go(f"/admin/users/{alex_id}")
    console.visit("user-detail-salesforce")
    console.go("/admin/deployment?preflight=1")
    assert page.locator("#preflight tr", has_text="The CRM is connected").count() == 1
    console.visit("deployment-salesforce")
    assert not console.violations, json.dumps(console.violations, indent=1)
