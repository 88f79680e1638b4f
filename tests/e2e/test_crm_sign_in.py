"""The built-in CRM pages in a real browser: no page without sign-in, the sign-in comes back
to the page asked for, and the header's sign-out form (with its CSRF token) ends the session so
the pages ask for sign-in again."""

from __future__ import annotations

import pytest

from .conftest import DEMO_EMAIL


@pytest.mark.parametrize("crm_adapter", ["builtin"], indirect=True)
def test_sign_in_to_the_crm_pages_and_sign_out(pane, artifacts_dir):
    page, base = pane.page, pane.server.url
    page.goto(f"{base}/crm/accounts?sort=name")
    # Not signed in: the sandbox's Microsoft sign-in page, not the demo's records.
    page.wait_for_url(lambda url: not url.startswith(base))
    page.locator(f'button[data-email="{DEMO_EMAIL}"]').click()
    page.wait_for_url(f"{base}/crm/accounts?sort=name")
    signout = page.locator("header form.signout")
    assert signout.locator('input[name="csrf_token"]').get_attribute("value")
    shot = artifacts_dir / "crm-signed-in-header.png"
    page.screenshot(path=str(shot))
    signout.locator("button").focus()
    page.keyboard.press("Enter")  # keyboard usable
    page.wait_for_url(f"{base}/")
    assert page.locator("header form.signout").count() == 0
    page.goto(f"{base}/crm/accounts")
    page.wait_for_url(lambda url: not url.startswith(base))
    assert pane.errors == []
