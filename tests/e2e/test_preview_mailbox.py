"""The preview's whole mailbox (issue 12): paged, by folder and searchable, by keyboard, and
a message of a later page opens in the pane. Both CRM adapters; screenshot in artifacts/."""

from __future__ import annotations

import re

import pytest

from .conftest import sign_in_by_token

pytestmark = pytest.mark.e2e


def test_page_through_and_search_the_mailbox_by_keyboard(pane):
    sign_in_by_token(pane)
    pane.open_preview()
    page = pane.page
    count = page.locator("#mailbox-count")
    pages = int(re.search(r"page 1 of (\d+)", count.inner_text()).group(1))
    assert pages > 1
    first_ids = page.evaluate("() => CourierPreviewHost.messages().map((m) => m.id)")

    # Older → with the keyboard: the next 40 messages, none of the first page's.
    page.locator("#page-older").focus()
    with page.expect_navigation():
        page.keyboard.press("Enter")
    page.wait_for_function("() => window.CourierPreviewHost !== undefined")
    assert "page 2 of" in count.inner_text()
    second = page.evaluate("() => CourierPreviewHost.messages()")
    assert second and not {m["id"] for m in second} & set(first_ids)

    # A message of page 2 opens in the pane by keyboard (Enter on the focused row).
    message = next(m for m in second if m["internetMessageId"] and not m.get("recentlySent"))
    row = page.locator(f'li.olk-msg[data-id="{message["id"]}"]')
    row.focus()
    row.press("Enter")
    pane.wait_for_item(message["internetMessageId"])
    assert pane.frame.locator("h2.subject").inner_text() == (message["subject"] or "(no subject)")

    # Search: type in the box, Enter; every row shown matches, the count says so.
    word = max((message["subject"] or "review").split(), key=len)
    page.locator("#mailbox-q").focus()
    page.keyboard.type(word)
    with page.expect_navigation():
        page.keyboard.press("Enter")
    page.wait_for_function("() => window.CourierPreviewHost !== undefined")
    assert "matching" in count.inner_text() and "page 1 of" in count.inner_text()
    found = page.evaluate("() => CourierPreviewHost.messages()")
    assert message["id"] in {m["id"] for m in found}
    shown = page.locator("li.olk-msg").all_inner_texts()
    assert len(shown) == len(found) <= 40
    row.focus()
    row.press("Enter")
    pane.wait_for_item(message["internetMessageId"])
    page.screenshot(path=str(pane.shots / f"preview-{pane.test_name}-search.png"))
    assert not pane.errors
