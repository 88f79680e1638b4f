"""Graph's $select over a message, one rule for every message read (get, list, delta):
https://learn.microsoft.com/graph/query-parameters#select-parameter — the id always comes
back, and so do the @odata annotations; without $select a message comes with its default
properties, which leave out internetMessageHeaders
(https://learn.microsoft.com/graph/api/resources/message: "returned only on applying a
$select query option")."""

from __future__ import annotations

from flask import request


def select_arg() -> list[str]:
    """The request's $select as a list of property names (empty: none asked)."""
    return [f.strip() for f in request.args.get("$select", "").split(",") if f.strip()]


def select_fields(message: dict, fields: list[str]) -> dict:
    """The message as a read with `fields` as $select answers it."""
    if not fields:
        return {k: v for k, v in message.items() if k != "internetMessageHeaders"}
    return {k: v for k, v in message.items() if k == "id" or k in fields or k.startswith("@")}
