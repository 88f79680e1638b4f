"""Where sign-in may send the browser afterwards: a path on this site, nothing else (pure).

Browsers forgive a lot in a Location header: they drop tabs and line breaks (WHATWG URL
parsing strips ASCII tab/newline anywhere: https://url.spec.whatwg.org/#concept-basic-url-parser),
read a backslash as a slash in http(s) URLs, and take `//host` as another site. So
`/%09/evil.example/x` — decoded to "/\\t/evil.example/x" — became `//evil.example/x`, and CR/LF
made werkzeug refuse the header with a 500. The rule is therefore strict: one leading slash,
no second slash or backslash right after it, no backslash, no control character or space
anywhere, and nothing a URL parser reads as a scheme or a host.
"""

from __future__ import annotations

import re
from urllib.parse import urlsplit

MAX_NEXT_LENGTH = 2_000
# Controls (C0, DEL, C1), spaces of every kind a browser might trim, and backslashes.
_REFUSED = re.compile(r"[\x00-\x20\x7f-\x9f\\\u00a0\u1680\u2000-\u200b\u2028\u2029\u3000\ufeff]")


def safe_next(value: str | None) -> str:
    """`value` when it is a same-site path (with query), else "" (the default page)."""
    if not value or len(value) > MAX_NEXT_LENGTH or not value.startswith("/"):
        return ""
    if value.startswith("//") or _REFUSED.search(value):
        return ""
    parts = urlsplit(value)
    if parts.scheme or parts.netloc:
        return ""
    return value
