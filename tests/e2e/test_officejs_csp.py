"""Microsoft's real Office.js (npm @microsoft/office-js) under each page's real CSP, in Chromium.

For the task pane and every page the Office dialogs show that loads Office.js (the sign-in
bridge, the Salesforce-connect bridge), each Outlook platform whose host file the package
ships (web, win32, mac, ios, android): the page comes with the headers our server answered,
Office.js is told it runs in that Outlook (the host info Office passes and Office.js keeps in
sessionStorage), its files are served from the package at the configured OFFICE_JS_URL, and
the other script URLs are read from the library's own files. Chromium sees our server at an
https origin, as Outlook does: its requests reach the app as through a TLS-terminating proxy
(X-Forwarded-Proto/-Host, TRUSTED_PROXY_HOPS=1). The test asserts that each of
those is requested (so the policy let it through), that no `securitypolicyviolation` fires
and that nothing else outside our origin is asked for.

MicrosoftAjax.js is not in the npm package; its request is answered with a placeholder (the
point is that the browser was allowed to ask), so what Office.js would load after it is not
exercised here."""

from __future__ import annotations

import json
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from urllib.parse import urlsplit

import pytest
import requests
from lxml import html

from server.http import make_http_session
from server.sandbox.directory import DEMO_USERS
from tests.integration.signin_helpers import pick_user_on_authorize_page

from .conftest import CHROMIUM, CHROMIUM_ARGS, DEMO_EMAIL, PaneServer
from .officejs import external_scripts, outlook_host_files, serve_office_js

pytestmark = [
    pytest.mark.e2e,
    # Salesforce: its connect dialog is one of the pages checked (sign-in works for both).
    pytest.mark.parametrize("crm_adapter", ["salesforce"], indirect=True),
]
HOP_BY_HOP = {"content-length", "content-encoding", "transfer-encoding", "connection"}
EVENT_TIMEOUT_MS = 10_000
PUBLIC = "https://courier.test"  # where Chromium sees our server
FORWARDED = {"X-Forwarded-Proto": "https", "X-Forwarded-Host": "courier.test"}


@pytest.fixture
def pane_app_settings() -> dict:
    return {"TRUSTED_PROXY_HOPS": 1}


@dataclass
class CapturedPage:
    """One of our server's answers, replayed to Chromium byte for byte with its headers."""

    url: str
    status: int
    headers: dict[str, str]
    body: bytes

    @classmethod
    def get(cls, http: requests.Session, url: str) -> CapturedPage:
        """GET `url` from our server as through the proxy; the page's public URL with it."""
        response = http.get(url, headers=FORWARDED, allow_redirects=False, timeout=10)
        assert response.status_code == 200, response.text[:500]
        assert "Content-Security-Policy" in response.headers
        headers = {k: v for k, v in response.headers.items() if k.lower() not in HOP_BY_HOP}
        parts = urlsplit(url)
        public_url = f"{PUBLIC}{parts.path}" + (f"?{parts.query}" if parts.query else "")
        return cls(public_url, response.status_code, headers, response.content)


def trusting(server: PaneServer) -> requests.Session:
    """A client of our server, which is served over https with the sandbox's development CA."""
    return make_http_session(ca_bundle=server.sandbox.ca_bundle, timeout=10)


def pane_page(server: PaneServer) -> CapturedPage:
    return CapturedPage.get(trusting(server), f"{server.url}/addin/taskpane.html")


def sign_in_bridge_page(server: PaneServer) -> CapturedPage:
    """The sign-in dialog's last page, reached the way the dialog walks: our start URL, the
    (sandbox) Microsoft authorize page, our callback."""
    user = next(u for u in DEMO_USERS if u.email == DEMO_EMAIL)
    browser = trusting(server)
    start = browser.get(f"{server.url}/auth/signin?mode=dialog", allow_redirects=False)
    assert start.status_code == 302, start.text
    callback = pick_user_on_authorize_page(server.sandbox, start.headers["Location"], user)
    return CapturedPage.get(browser, callback)


def crm_bridge_page(server: PaneServer) -> CapturedPage:
    """The Salesforce-connect dialog's last page: our dialog start URL, the (sandbox)
    Salesforce authorize page, our callback in dialog mode."""
    client = trusting(server)
    # The dialog's browser is signed in to Courier (the connect flow is bound to it).
    token = server.token()
    name, value = server.session_cookie(token)
    client.cookies.set(name, value, domain=urlsplit(server.url).hostname)
    answer = client.post(
        f"{server.url}/api/crm/salesforce/connect",
        headers={"Authorization": f"Bearer {token}"},
        json={"mode": "dialog"},
        timeout=10,
    )
    answer.raise_for_status()
    start = client.get(answer.json()["dialog_url"], allow_redirects=False, timeout=10)
    assert start.status_code == 302, start.text
    authorize_url = start.headers["Location"]
    form = server.sandbox.http.get(authorize_url)
    fields = dict(html.fromstring(form.text).forms[0].fields)
    fields["decision"] = "allow"
    granted = server.sandbox.http.post(
        authorize_url.split("?")[0], data=fields, allow_redirects=False
    )
    assert granted.status_code == 302, granted.text
    page = CapturedPage.get(client, granted.headers["Location"])
    assert b"crm-bridge" in page.body
    return page


@dataclass
class Observed:
    requested: list[str] = field(default_factory=list)
    unexpected: list[str] = field(default_factory=list)
    console: list[str] = field(default_factory=list)


@pytest.fixture
def browser(pane_server) -> Iterator:
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        chromium = playwright.chromium.launch(
            executable_path=CHROMIUM, headless=True, args=CHROMIUM_ARGS
        )
        try:
            yield chromium
        finally:
            chromium.close()


def host_info(platform: str, version: str, dialog: bool) -> str:
    # office.js `_retrieveHostInfo`: type$platform$version$locale$correlation$isDialog$...$flags
    return f"Outlook${platform}${version}$en-US$${'isDialog' if dialog else ''}$$0"


def load_under_office_js(
    browser,
    server: PaneServer,
    dist: Path,
    page: CapturedPage,
    platform: str,
    host_file: str,
    dialog: bool,
) -> Observed:
    office_js_url = server.app.config["OFFICE_JS_URL"]
    directory = office_js_url.rsplit("/", 1)[0] + "/"
    scheme = urlsplit(page.url).scheme  # MicrosoftAjax comes with the page's scheme
    external = external_scripts(dist, ["office.js", host_file])
    assert external, "the library names no script outside its directory: nothing to check"
    external_urls = {f"{scheme}://{host}{path}" for host, path in external}
    assert scheme == "https"  # as in Outlook
    expected = {office_js_url, directory + host_file} | external_urls
    seen = Observed()
    # Our server's certificate is from the sandbox's development CA (route.fetch checks it).
    context = browser.new_context(ignore_https_errors=True)
    context.set_default_timeout(EVENT_TIMEOUT_MS)
    context.on("console", lambda m: seen.console.append(m.text))

    def elsewhere(route) -> None:
        url = route.request.url
        if url.startswith(PUBLIC + "/"):  # our server, through the "proxy"
            answer = route.fetch(
                url=server.url + url.removeprefix(PUBLIC),
                headers={**route.request.headers, **FORWARDED},
            )
            route.fulfill(response=answer)
        elif url in external_urls:
            seen.requested.append(url)
            route.fulfill(
                status=200, body="/* not in the npm package */", content_type="text/javascript"
            )
        else:
            seen.unexpected.append(url)
            route.abort()

    context.route("**/*", elsewhere)
    serve_office_js(context, office_js_url, dist, on_request=seen.requested.append)
    context.route(
        lambda url: url == page.url,
        lambda route: route.fulfill(status=page.status, headers=page.headers, body=page.body),
    )
    info = host_info(platform, host_file.rsplit("-", 1)[1].removesuffix(".js"), dialog)
    context.add_init_script(
        f"""if (location.origin === {json.dumps(PUBLIC)}) {{
          sessionStorage.setItem("hostInfoValue", {json.dumps(info)});
          window.__cspViolations = [];
          document.addEventListener("securitypolicyviolation", (e) =>
            window.__cspViolations.push(e.violatedDirective + " " + e.blockedURI));
        }}"""
    )
    try:
        tab = context.new_page()
        if dialog:  # Office dialogs are windows Outlook opens (with an opener on the web)
            tab.goto(f"{PUBLIC}/healthz")
            with context.expect_page() as popup:
                tab.evaluate("() => { window.open('about:blank'); }")
            tab = popup.value
            tab.goto(page.url)  # navigated once attached, so the init script runs in it
        else:
            tab.goto(page.url)
        try:
            while not expected <= set(seen.requested):
                # Fires after our route handler answered (and recorded) a request.
                context.wait_for_event("requestfinished", timeout=EVENT_TIMEOUT_MS)
            tab.wait_for_load_state("load")
        except Exception as exc:  # a wait that timed out: say what was not asked for
            missing = sorted(expected - set(seen.requested))
            raise AssertionError(
                f"{platform}: never requested {missing}; {seen.console}; {exc}"
            ) from exc
        violations = tab.evaluate("window.__cspViolations")
    finally:
        context.close()
    assert violations == [], f"{platform}: {violations}"
    return seen


@pytest.mark.parametrize("which", ["pane", "sign-in bridge", "crm bridge"])
def test_office_js_loads_everything_it_needs_under_each_pages_policy(
    which, pane_server, browser, office_js_files
):
    capture = {"pane": pane_page, "sign-in bridge": sign_in_bridge_page}.get(which, crm_bridge_page)
    page = capture(pane_server)
    hosts = outlook_host_files(office_js_files)
    assert {"web", "win32", "mac"} <= set(hosts), hosts
    for platform, host_file in sorted(hosts.items()):
        seen = load_under_office_js(
            browser, pane_server, office_js_files, page, platform, host_file, which != "pane"
        )
        assert seen.unexpected == [], f"{platform}: asked outside our origin {seen.unexpected}"
        blocked = [m for m in seen.console if "Content Security Policy" in m]
        assert blocked == [], f"{platform}: {blocked}"
