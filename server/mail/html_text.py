"""HTML → plain text, the one way Courier turns an email body into data (the pane's bodies and
the sync's alike): tags stripped by nh3, script/style/head content dropped, entities decoded,
block ends kept as line breaks, whitespace tidied. The result is text, never markup."""

from __future__ import annotations

import html
import re

import nh3

# Raw HTML beyond this is cut before cleaning, so one enormous body cannot stall a page.
MAX_HTML_CHARS = 1_000_000
_BLOCK_END = re.compile(r"<\s*(?:br|/p|/div|/li|/tr|/h[1-6]|/blockquote)\b[^>]*>", re.I)


def html_to_text(raw: str, limit: int) -> str:
    """Plain text of an HTML fragment or document, at most `limit` characters."""
    marked = _BLOCK_END.sub(lambda m: m.group(0) + "\n", raw[:MAX_HTML_CHARS])
    stripped = html.unescape(
        nh3.clean(marked, tags=set(), clean_content_tags={"script", "style", "head", "title"})
    )
    lines = [" ".join(line.split()) for line in stripped.splitlines()]
    tidy = "\n".join(lines).strip()
    while "\n\n\n" in tidy:
        tidy = tidy.replace("\n\n\n", "\n\n")
    return tidy[:limit]
