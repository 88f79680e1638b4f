"""Audit log page: filter by action, person, target and dates; paginated; CSV export."""

from __future__ import annotations

from datetime import datetime, timedelta

from flask import g, render_template, request

from . import bp
from .audit import CSV_COLUMNS, AuditFilter, action_names, count_events, csv_rows, list_events
from .csv_download import csv_download
from .tables import table_params

EXPORT_LIMIT = 100_000


def _date(name: str) -> datetime | None:
    raw = request.args.get(name, "")
    try:
        return datetime.fromisoformat(raw) if raw else None
    except ValueError:
        return None


def _filter() -> AuditFilter:
    until = _date("until")
    return AuditFilter(
        action=request.args.get("action", "")[:64],
        actor=request.args.get("actor", "")[:200],
        target=request.args.get("target", "")[:200],
        since=_date("since"),
        until=until + timedelta(days=1) if until else None,  # the whole day named
    )


@bp.get("/audit")
def audit():
    flt = _filter()
    params = table_params(("created_at",), "created_at", default_desc=True)
    total = count_events(g.org.id, flt)
    return render_template(
        "admin/audit.html",
        title="Audit log",
        events=list_events(g.org.id, flt, params.offset, params.per_page),
        total=total,
        params=params,
        actions=action_names(g.org.id),
        args=request.args,
    )


@bp.get("/audit.csv")
def audit_csv():
    flt = _filter()
    events = list_events(g.org.id, flt, 0, EXPORT_LIMIT)
    return csv_download(
        "audit-log",
        CSV_COLUMNS,
        csv_rows(events),
        {"rows": len(events), "filter": {k: str(v) for k, v in request.args.items()}},
    )
