"""The Users page's Scope filter in headless Chromium, used with the keyboard only: the
application-access scope (who application mode reads) narrows the list like the page's
other filters, and the choice stays selected. Screenshot at 1280 px and 768 px, axe scan."""

from __future__ import annotations

import pytest
from sqlalchemy import select

from server.models.tenancy import User
from tests.e2e.conftest import DEMO_EMAIL
from tests.e2e.test_admin_console import (  # noqa: F401  (fixtures)
    Console,
    axe_script,
    browser,
    crm_adapter,
    sign_in_through_start_page,
)

pytestmark = pytest.mark.e2e
CHEN = "chen@courier-demo.test"


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
    pane_server.run(lambda db: _put_in_scope(db, DEMO_EMAIL))

    _filter_by_keyboard(console, "in")
    assert "scope=in" in page.url
    assert _listed(console) == [DEMO_EMAIL]
    assert page.locator('select[name="scope"]').input_value() == "in"
    assert console.row(DEMO_EMAIL).locator("td[data-scope]").inner_text() == "in scope"
    console.visit("users-scope-in")

    _filter_by_keyboard(console, "out")
    assert "scope=out" in page.url
    listed = _listed(console)
    assert DEMO_EMAIL not in listed and CHEN in listed  # directory-only people are out
    console.visit("users-scope-out")
    assert not console.violations, console.violations
