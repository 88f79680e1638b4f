"""The one gate every request body and query string passes before a view sees it.

JSON bodies (`request.get_json`, whatever the view): parsed once, then refused with 400 and the
JSON error shape when they are nested deeper than MAX_JSON_DEPTH (Python's parser raises
RecursionError near 1,000 levels, which used to become a 500), when the top level is not an
object (every JSON endpoint of ours takes an object: `[1]`, `"x"`, `true` used to crash the
views that call `.get` on it), or when a string holds a NUL or a lone UTF-16 surrogate
(`"\\ud800"`): neither can be stored — PostgreSQL refuses NUL in text, and a lone surrogate
cannot be encoded as UTF-8 by any driver. Query strings get the NUL check too (werkzeug already
decodes them with replacement, so they never hold surrogates).

Field-level rules (control characters in single-line values) live with the fields, in
server/pane/inputs.py.
"""

from __future__ import annotations

import re
from typing import Any

from flask import Flask, Request, request

from .errors import ApiError

MAX_JSON_DEPTH = 32
# NUL and the surrogate range: the code points no stored string may hold.
_UNSTORABLE = re.compile("[\x00\ud800-\udfff]")


def _unstorable(text: str) -> bool:
    return _UNSTORABLE.search(text) is not None


def check_json_body(data: Any) -> None:
    """Refuse a parsed JSON body we cannot safely handle (see the module docstring)."""
    if not isinstance(data, dict):
        raise ApiError(400, "invalid_json", "The body must be a JSON object.")
    # Iterative walk: a recursive one would hit the same recursion limit we guard against.
    stack: list[tuple[Any, int]] = [(data, 1)]
    while stack:
        value, depth = stack.pop()
        if isinstance(value, str):
            if _unstorable(value):
                raise ApiError(
                    400,
                    "invalid_string",
                    "A string in the body holds a NUL or a lone surrogate (not valid text).",
                )
            continue
        if not isinstance(value, dict | list):
            continue
        if depth > MAX_JSON_DEPTH:
            raise ApiError(
                400, "too_deep", f"The JSON body is nested deeper than {MAX_JSON_DEPTH} levels."
            )
        children = value.items() if isinstance(value, dict) else enumerate(value)
        for key, child in children:
            if isinstance(key, str) and _unstorable(key):
                raise ApiError(
                    400, "invalid_string", "A key in the body holds a NUL or a lone surrogate."
                )
            stack.append((child, depth + 1))


class GuardedRequest(Request):
    """Flask's request with `get_json` passing every body through `check_json_body`."""

    _checked_json: Any = Ellipsis  # the body already checked (Ellipsis: none yet)

    def get_json(self, force: bool = False, silent: bool = False, cache: bool = True) -> Any:
        # A JSON body that is there is always parsed strictly, even for `silent` callers:
        # silence is for "no JSON was sent", never for JSON we cannot accept (a `null` or
        # invalid body must not pass for an absent one).
        sent = (force or self.is_json) and bool(self.get_data(cache=True).strip())
        try:
            data = super().get_json(force=force, silent=silent and not sent, cache=cache)
        except RecursionError:
            raise ApiError(
                400, "too_deep", f"The JSON body is nested deeper than {MAX_JSON_DEPTH} levels."
            ) from None
        if sent and data is not self._checked_json:
            check_json_body(data)
            self._checked_json = data
        return data

    def on_json_loading_failed(self, e: ValueError | None) -> Any:
        if e is None:
            raise ApiError(415, "unsupported_media_type", "Send a JSON body (application/json).")
        raise ApiError(400, "invalid_json", "The body is not valid JSON.")


def _check_query_string() -> None:
    for key, value in request.args.items(multi=True):
        if "\x00" in key or "\x00" in value:
            raise ApiError(400, "invalid_string", f"The query parameter {key[:40]!r} holds a NUL.")


def init_app(app: Flask) -> None:
    app.request_class = GuardedRequest
    app.before_request(_check_query_string)
