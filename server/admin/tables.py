"""Table parameters shared by the console's lists: sort column and direction, page, page
size, read from the query string and checked against what each table allows."""

from __future__ import annotations

from dataclasses import dataclass

from flask import request

PAGE_SIZES = (25, 50, 100, 200)


@dataclass(frozen=True)
class TableParams:
    sort: str
    descending: bool
    page: int
    per_page: int

    @property
    def offset(self) -> int:
        return (self.page - 1) * self.per_page

    def pages(self, total: int) -> int:
        return max(1, -(-total // self.per_page))


def table_params(sortable: tuple[str, ...], default_sort: str, default_desc: bool = False):
    args = request.args
    sort = args.get("sort", default_sort)
    if sort not in sortable:
        sort = default_sort
    direction = args.get("dir", "")
    descending = default_desc if direction not in ("asc", "desc") else direction == "desc"
    try:
        page = max(1, min(100_000, int(args.get("page", "1"))))
    except ValueError:
        page = 1
    try:
        per_page = int(args.get("per_page", PAGE_SIZES[1]))
    except ValueError:
        per_page = PAGE_SIZES[1]
    if per_page not in PAGE_SIZES:
        per_page = PAGE_SIZES[1]
    return TableParams(sort, descending, page, per_page)


def with_args(**changes) -> dict:
    """The current query string with some values changed (None drops one), for links."""
    args = {k: v for k, v in request.args.items() if v != ""}
    for key, value in changes.items():
        if value is None:
            args.pop(key, None)
        else:
            args[key] = value
    return args
