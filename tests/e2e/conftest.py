"""Browser tests: the real pane in headless Chromium (Debian's package, driven by Playwright for
Python), inside /preview with its simulated Office, against the app served over HTTP in a
thread, the sandbox service (sign-in, Graph mailbox) over HTTPS, and a real Redis."""

from __future__ import annotations

import json
import os
import threading
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest
from flask import Flask
from sqlalchemy import select
from werkzeug.serving import make_server

from server.auth.sessions import issue_session
from server.crm.builtin.models import CrmAccount, CrmContact, CrmContactEmail, CrmOpportunity
from server.db import get_session
from server.demo import seed_demo
from server.models.tenancy import User
from tests.conftest import free_port, make_test_app
from tests.sandbox_fixtures import sandbox, sandbox_server  # noqa: F401

CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking"]
DEMO_EMAIL = "alex@courier-demo.test"

pytestmark = pytest.mark.e2e


@dataclass
class PaneServer:
    url: str
    app: Flask
    sandbox: Any

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


@pytest.fixture
def pane_server(sqlite_url, redis_url, redis_client, sandbox) -> Iterator[PaneServer]:  # noqa: F811
    if not Path(CHROMIUM).exists():
        message = f"browser tests need Chromium at {CHROMIUM} (Debian package chromium)"
        if os.environ.get("REQUIRE_BROWSER") == "1":
            pytest.fail(message)
        pytest.skip(message)
    port = free_port()
    url = f"http://127.0.0.1:{port}"
    app = make_test_app(sqlite_url, redis_url, BASE_URL=url, **sandbox.settings())
    with app.app_context():
        seed_demo(get_session())
        get_session().commit()
        get_session().close()
    server = make_server("127.0.0.1", port, app, threaded=True)
    thread = threading.Thread(target=server.serve_forever, name="pane-app", daemon=True)
    thread.start()
    yield PaneServer(url=url, app=app, sandbox=sandbox)
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
    """A demo contact whose account has an open opportunity owned by the demo user."""
    owner = str(server.user().id)

    def find(db):
        row = db.execute(
            select(CrmContact, CrmContactEmail.email, CrmAccount, CrmOpportunity)
            .join(CrmContactEmail, CrmContactEmail.contact_id == CrmContact.id)
            .join(CrmAccount, CrmAccount.id == CrmContact.account_id)
            .join(CrmOpportunity, CrmOpportunity.account_id == CrmAccount.id)
            .where(CrmOpportunity.owner_id == owner, CrmOpportunity.is_closed.is_(False))
            .order_by(CrmContact.id)
            .limit(1)
        ).first()
        contact, email, account, opp = row
        return KnownContact(
            str(contact.id),
            contact.name,
            email,
            str(account.id),
            account.name,
            str(opp.id),
            opp.name,
        )

    return server.run(find)


@dataclass
class Pane:
    page: Any
    context: Any
    server: PaneServer
    shots: Path
    test_name: str
    errors: list[str] = field(default_factory=list)

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


@pytest.fixture
def pane(pane_server, tmp_path, artifacts_dir, request) -> Iterator[Pane]:
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
        page.on("pageerror", lambda exc: driver.errors.append(str(exc)))
        try:
            yield driver
        finally:
            context.close()


def sign_in_by_token(pane: Pane, email: str = DEMO_EMAIL) -> None:
    """Put a session in the pane's storage (as the dialog sign-in would) before it loads."""
    token = pane.server.token(email)
    origin = pane.server.url
    pane.context.add_init_script(
        f"if (location.origin === {json.dumps(origin)}) "
        f"localStorage.setItem('courier.session', {json.dumps(token)});"
    )
