"""CSV downloads of the console (audit log, activity): safe for spreadsheets, audited."""

from __future__ import annotations

import csv
import io
from collections.abc import Iterable, Sequence

from flask import Response, g

from .audit import record_audit

# A cell starting with one of these is run as a formula by spreadsheet programs (CSV
# injection); a leading apostrophe keeps it text.
_FORMULA_START = ("=", "+", "-", "@", "\t", "\r")


def _cell(value: object) -> object:
    if isinstance(value, str) and value.startswith(_FORMULA_START):
        return "'" + value
    return value


def csv_text(header: Sequence[str], rows: Iterable[Sequence[object]]) -> str:
    out = io.StringIO()
    writer = csv.writer(out)
    writer.writerow(header)
    for row in rows:
        writer.writerow([_cell(v) for v in row])
    return out.getvalue()


def csv_download(
    name: str, header: Sequence[str], rows: Iterable[Sequence[object]], what: dict
) -> Response:
    """The CSV as an attachment; the export itself goes into the audit log."""
    body = csv_text(header, rows)
    record_audit(g.org.id, "export.csv", target_type="export", target=name, after=what)
    return Response(
        body,
        mimetype="text/csv",
        headers={"Content-Disposition": f'attachment; filename="{name}.csv"'},
    )
