"""Browser tests: the real pane in headless Chromium (Debian's package, driven by Playwright for
Python), inside /preview with its simulated Office (the dialog's pages get Microsoft's real
Office.js, from npm), against the app served over HTTPS in a thread (Outlook loads add-ins and
dialogs only over https, and the simulated Office refuses an http dialog as the real one does:
12005), the sandbox service (sign-in, Graph mailbox, Salesforce) over HTTPS, and a real Redis.

Every test runs once per CRM adapter ("builtin", "salesforce"); what a test reads back from the
CRM goes through the CRM interface (crm_for(user)), so the same assertions hold for both."""

from __future__ import annotations

import json
import os
import threading
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import pytest
from flask import Flask
from lxml import html
from sqlalchemy import select
from werkzeug.serving import make_server

from server.auth.sessions import issue_session
from server.crm import crm_for
from server.crm.base import CRM, RecordRef
from server.crm.builtin.demo_data import DEFAULT_SEED, demo_crm
from server.db import get_session
from server.demo import seed_demo
from server.http import make_http_session
from server.models.tenancy import User
from server.redis_server import free_port
from server.sandbox.devca import ensure_dev_ca, ssl_context_for
from tests.conftest import make_test_app
from tests.e2e.officejs import office_js_dist, serve_office_js
from tests.sandbox_fixtures import sandbox, sandbox_server  # noqa: F401

CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking"]
DEMO_EMAIL = "alex@courier-demo.test"
ADAPTERS = ("builtin", "salesforce")
# The sandbox Salesforce org's schema: three email fields on Contact, two domain fields.
SALESFORCE_SETTINGS = {
    "SALESFORCE_CONTACT_EMAIL_FIELDS": ("Email", "Alternate_Email__c", "Other_Email__c"),
    "SALESFORCE_ACCOUNT_DOMAIN_FIELDS": ("Website", "Other_Domains__c"),
    "SALESFORCE_RETRY_BASE_MS": 10,
}

pytestmark = pytest.mark.e2e


@dataclass
class PaneServer:
    url: str
    app: Flask
    sandbox: Any
    adapter: str = "builtin"

    def run(self, fn: Callable[[Any], Any]) -> Any:
        """Run `fn(db_session)` in an app context of the served app."""
        with self.app.app_context():
            try:
                return fn(get_session())
            finally:
                get_session().close()

    def user(self, email: str = DEMO_EMAIL) -> User:
        return self.run(lambda db: db.scalar(select(User).where(User.email == email)))

    def token(self, email: str = DEMO_EMAIL) -> str:
        return self.run(
            lambda db: issue_session(db.scalar(select(User).where(User.email == email)))
        )

    def with_crm(self, fn: Callable[[CRM], Any], email: str = DEMO_EMAIL) -> Any:
        """Run `fn(crm)` with the user's CRM adapter, as the pane's API would use it."""
        return self.run(lambda db: fn(crm_for(db.scalar(select(User).where(User.email == email)))))

    def activity_links(self, key: str) -> set[tuple[str, str]] | None:
        """The records the CRM's saved email `key` links to, or None when it is not saved."""
        found = self.with_crm(lambda crm: crm.find_activities([key])).get(key)
        if found is None:
            return None
        return {(link.ref.type, link.ref.id) for link in found.links}

    def find_person(self, address: str, kind: str) -> str:
        """The id of the contact or lead the CRM has for `address`."""
        people = self.with_crm(lambda crm: crm.find_people([address])).get(address, [])
        return next(p.ref.id for p in people if p.ref.type == kind)

    def crm_connection(self, email: str = DEMO_EMAIL) -> dict:
        from server.pane.status import crm_connection

        return self.run(
            lambda db: crm_connection(
                db.scalar(select(User).where(User.email == email)), self.adapter
            )
        )

    def session_cookie(self, token: str) -> tuple[str, str]:
        """(name, value) of the signed session cookie a Courier sign-in leaves in a browser."""
        serializer = self.app.session_interface.get_signing_serializer(self.app)
        return self.app.config["SESSION_COOKIE_NAME"], serializer.dumps({"session_token": token})

    def connect_crm(self, email: str = DEMO_EMAIL) -> None:
        """Connect the user's Salesforce through the same HTTP flow the pane's dialog walks
        (our connect API, our dialog page in a browser signed in to Courier, the sandbox's
        authorize page, our callback in that browser). Built-in: nothing."""
        if self.adapter != "salesforce":
            return
        token = self.token(email)
        # A browser signed in to Courier (the dialog's own), trusting the app's development CA.
        browser = make_http_session(ca_bundle=self.sandbox.ca_bundle, timeout=10)
        name, value = self.session_cookie(token)
        browser.cookies.set(name, value, domain=urlsplit(self.url).hostname)
        answer = browser.post(
            f"{self.url}/api/crm/salesforce/connect",
            headers={"Authorization": f"Bearer {token}"},
            json={"mode": "dialog"},
            timeout=10,
        )
        answer.raise_for_status()
        opened = browser.get(answer.json()["dialog_url"], allow_redirects=False, timeout=10)
        assert opened.status_code == 302, opened.text
        authorize_url = opened.headers["Location"]
        page = self.sandbox.http.get(authorize_url)
        page.raise_for_status()
        fields = dict(html.fromstring(page.text).forms[0].fields)
        assert fields["username"] == email  # login_hint picks the user
        fields["decision"] = "allow"
        granted = self.sandbox.http.post(
            authorize_url.split("?")[0], data=fields, allow_redirects=False
        )
        assert granted.status_code == 302, granted.text
        done = browser.get(granted.headers["Location"], timeout=10)
        assert done.status_code == 200 and "Salesforce connected" in done.text, done.text


@pytest.fixture(params=ADAPTERS)
def crm_adapter(request) -> str:
    return request.param


@pytest.fixture
def pane_app_settings() -> dict[str, Any]:
    """Extra settings of the served app; a test module overrides this fixture to set some."""
    return {}


@pytest.fixture
def pane_server(
    crm_adapter,
    sqlite_url,
    redis_url,
    redis_client,
    sandbox,  # noqa: F811
    pane_app_settings,
) -> Iterator[PaneServer]:
    if not Path(CHROMIUM).exists():
        message = f"browser tests need Chromium at {CHROMIUM} (Debian package chromium)"
        if os.environ.get("REQUIRE_BROWSER") == "1":
            pytest.fail(message)
        pytest.skip(message)
    port = free_port()
    url = f"https://127.0.0.1:{port}"
    settings = {**sandbox.settings(), "CRM_ADAPTER": crm_adapter}
    if crm_adapter == "salesforce":
        settings.update(SALESFORCE_SETTINGS)
    settings.update(pane_app_settings)
    app = make_test_app(sqlite_url, redis_url, BASE_URL=url, **settings)
    with app.app_context():
        seed_demo(get_session())
        get_session().commit()
        get_session().close()
    # The sandbox's development CA issues this server's certificate too (sandbox.http trusts
    # it; Chromium runs with ignore_https_errors).
    paths = ensure_dev_ca(Path(sandbox.ca_bundle).parent)
    server = make_server("127.0.0.1", port, app, threaded=True, ssl_context=ssl_context_for(paths))
    thread = threading.Thread(target=server.serve_forever, name="pane-app", daemon=True)
    thread.start()
    yield PaneServer(url=url, app=app, sandbox=sandbox, adapter=crm_adapter)
    server.shutdown()
    thread.join(timeout=10)
    app.extensions["db_engine"].dispose()


@dataclass
class KnownContact:
    id: str
    name: str
    email: str
    account_id: str
    account_name: str
    opportunity_id: str
    opportunity_name: str


def known_contact(server: PaneServer) -> KnownContact:
    """A demo contact (one CRM person for their address) whose account has an open opportunity
    owned by the demo user. Chosen from the demo data both CRMs are seeded from, and resolved
    to the CRM's own ids through the CRM interface."""
    data = demo_crm(DEFAULT_SEED)
    object_id = server.user().object_id
    open_accounts = {
        o.account for o in data.opportunities if o.owner == object_id and not o.is_closed
    }
    candidates = [c for c in data.contacts if c.account in open_accounts and c.emails]

    def find(crm: CRM) -> KnownContact:
        owner = crm.owner_id_for(server.user())
        for contact in candidates:
            email = contact.emails[0]
            people = crm.find_people([email]).get(email, [])
            if len(people) != 1 or people[0].ref.type != "contact" or not people[0].account_id:
                continue
            person = people[0]
            opportunities = [
                o for o in crm.opportunities_of([person.account_id], owner) if not o.is_closed
            ]
            if not opportunities:
                continue
            account_ref = RecordRef("account", person.account_id)
            account = crm.get_records([account_ref])[account_ref]
            opportunity = opportunities[0]
            return KnownContact(
                person.ref.id,
                person.name,
                email,
                person.account_id,
                account.name,
                opportunity.ref.id,
                opportunity.name,
            )
        raise AssertionError("no demo contact with an open opportunity of the demo user")

    return server.with_crm(find)


@dataclass
class Pane:
    page: Any
    context: Any
    server: PaneServer
    shots: Path
    test_name: str
    errors: list[str] = field(default_factory=list)
    # What the browser asked of Office.js's directory (answered from the npm package).
    office_js_requests: list[str] = field(default_factory=list)

    def assert_dialog_ran_real_office_js(self) -> None:
        """The dialog's pages loaded Microsoft's Office.js, not the simulation: outside an
        Office host only the real library fetches its O15 file map before onReady."""
        names = {url.rsplit("/", 1)[-1] for url in self.office_js_requests}
        assert {"office.js", "o15apptofilemappingtable.js"} <= names, names

    @property
    def frame(self):
        return self.page.frame_locator("#pane")

    def open_preview(self) -> None:
        self.page.goto(f"{self.server.url}/preview")
        self.page.wait_for_function("() => window.CourierPreviewHost !== undefined")

    def add_message(self, message: dict[str, Any]) -> str:
        return self.page.evaluate("m => window.CourierPreviewHost.addMessage(m)", message)

    def open_message(self, message: dict[str, Any]) -> None:
        """Add a message to the preview's mailbox, select it and wait for the pane to show it."""
        self.add_message(message)
        self.select(message["id"])
        self.wait_for_item(message["internetMessageId"])

    def select(self, message_id: str) -> None:
        self.page.click(f'li.olk-msg[data-id="{message_id}"]')

    def wait_for_item(self, key: str, timeout: float = 15_000) -> None:
        self.frame.locator(f'body[data-item-key="{key}"]').wait_for(timeout=timeout)

    def screenshot(self, label: str) -> Path:
        path = self.shots / f"pane-{self.test_name}-{label}.png"
        self.page.locator("aside.olk-pane").screenshot(path=str(path))
        return path


@pytest.fixture(scope="session")
def office_js_files() -> Path:
    """Microsoft's Office.js (npm), which the dialog pages load as in Outlook."""
    return office_js_dist()


@pytest.fixture
def pane(pane_server, tmp_path, artifacts_dir, request, office_js_files) -> Iterator[Pane]:
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        context = playwright.chromium.launch_persistent_context(
            str(tmp_path / "chromium-profile"),
            executable_path=CHROMIUM,
            headless=True,
            args=CHROMIUM_ARGS,
            ignore_https_errors=True,  # the sandbox's development CA
            viewport={"width": 1360, "height": 900},
            env={**os.environ, "HOME": str(tmp_path)},
        )
        context.set_default_timeout(15_000)
        page = context.pages[0] if context.pages else context.new_page()
        driver = Pane(page, context, pane_server, artifacts_dir, request.node.name)
        # The pane gets the simulated Office (the preview); the dialog's pages the real one.
        office_js_url = pane_server.app.config["OFFICE_JS_URL"]
        serve_office_js(context, office_js_url, office_js_files, driver.office_js_requests.append)
        page.on("pageerror", lambda exc: driver.errors.append(str(exc)))
        try:
            yield driver
        finally:
            context.close()


# The simulated Office's Office.context.partitionKey (addin/preview/office-sim.js).
SIM_PARTITION_KEY = "sim-partition:"


def session_storage_key(email: str = DEMO_EMAIL) -> str:
    """Where the pane keeps the session of mailbox `email` (addin/api.js useMailbox)."""
    return f"{SIM_PARTITION_KEY}courier.session:{email.lower()}"


def sign_in_by_token(pane: Pane, email: str = DEMO_EMAIL, connect_crm: bool = True) -> None:
    """Put a session in the pane's storage (as the dialog sign-in would) before it loads, and
    (unless told otherwise) connect the user's CRM login where the adapter needs one."""
    if connect_crm:
        pane.server.connect_crm(email)
    token = pane.server.token(email)
    origin = pane.server.url
    value = json.dumps({"token": token, "email": email.lower()})
    pane.context.add_init_script(
        f"if (location.origin === {json.dumps(origin)}) "
        f"localStorage.setItem({json.dumps(session_storage_key(email))}, {json.dumps(value)});"
    )
    # The dialog sign-in also leaves Courier's session cookie in the browser (the Salesforce
    # connect dialog requires it: the flow is bound to the browser that started it).
    name, value = pane.server.session_cookie(token)
    pane.context.add_cookies([{"name": name, "value": value, "url": origin}])
