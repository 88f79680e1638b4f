"""Paging, folders and search over the preview's mailbox (pure: a list in, one page out), so
the whole generated mailbox can be browsed in /preview, not only its newest messages."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

PAGE_SIZE = 40
MAX_QUERY = 100
FOLDER_NAMES = {"all": "All folders", "inbox": "Inbox", "sentitems": "Sent Items"}


@dataclass
class Page:
    messages: list[dict[str, Any]]
    number: int
    pages: int
    total: int
    query: str
    folder: str
    folders: list[tuple[str, str]]  # (key, label)


def _text(message: dict[str, Any]) -> str:
    people = [message.get("from") or {}, *message.get("to", []), *message.get("cc", [])]
    words = [message.get("subject") or ""]
    words += [f"{p.get('name', '')} {p.get('address', '')}" for p in people]
    return " ".join(words).lower()


def page_of(
    messages: list[dict[str, Any]], *, query: str = "", folder: str = "all", number: int = 1
) -> Page:
    """One page of the messages (newest first as given) of a folder matching the query (every
    word in the subject, a name or an address; case-insensitive). Out-of-range page numbers
    and unknown folders fall back to the nearest valid ones."""
    present = sorted({m["folder"] for m in messages})
    folders = [("all", FOLDER_NAMES["all"])] + [
        (f, FOLDER_NAMES.get(f, f.capitalize())) for f in present
    ]
    folder = folder if folder in present else "all"
    query = " ".join(query.split())[:MAX_QUERY]
    words = query.lower().split()
    chosen = [
        m
        for m in messages
        if (folder == "all" or m["folder"] == folder) and all(w in _text(m) for w in words)
    ]
    pages = max(1, -(-len(chosen) // PAGE_SIZE))
    number = min(max(1, number), pages)
    start = (number - 1) * PAGE_SIZE
    return Page(
        chosen[start : start + PAGE_SIZE], number, pages, len(chosen), query, folder, folders
    )
