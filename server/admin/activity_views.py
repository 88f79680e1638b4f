"""Activity page (charts drawn as SVG on the server) and its CSV downloads."""

from __future__ import annotations

from flask import abort, g, render_template

from ..crm import crm_for
from ..crm.base import RecordRef
from . import bp
from .activity import activity, day_bars, hbars
from .csv_download import csv_download

TABLES = ("days", "people", "sources", "accounts")


def _with_account_names(data) -> None:
    """Account names from the CRM (ids when the CRM cannot be asked right now)."""
    if not data.accounts:
        return
    refs = [RecordRef("account", a) for a, _, _ in data.accounts]
    try:
        records = crm_for(g.user).get_records(refs)
    except Exception:  # a CRM outage must not break the page: ids stay
        return
    data.accounts = [
        (a, getattr(records.get(RecordRef("account", a)), "name", a) or a, n)
        for a, _, n in data.accounts
    ]


@bp.get("/activity")
def activity_page():
    data = activity(g.org.id)
    _with_account_names(data)
    bars, top = day_bars(data.days)
    return render_template(
        "admin/activity.html",
        title="Activity",
        data=data,
        day_bars=bars,
        day_top=top,
        people_bars=hbars([(p, e + m) for p, e, m in data.people[:15]]),
        source_bars=hbars(data.sources),
        account_bars=hbars([(name, n) for _, name, n in data.accounts]),
    )


@bp.get("/activity/<any(days, people, sources, accounts):table>.csv")
def activity_csv(table: str):
    data = activity(g.org.id)
    if table == "days":
        header, rows = (
            ("day", "emails", "meetings"),
            [(d.isoformat(), e, m) for d, e, m in data.days],
        )
    elif table == "people":
        header, rows = ("person", "emails", "meetings"), data.people
    elif table == "sources":
        header, rows = ("how saved", "items"), data.sources
    elif table == "accounts":
        _with_account_names(data)
        header, rows = ("account id", "account", "items"), data.accounts
    else:
        abort(404)
    return csv_download(f"activity-{table}", header, rows, {"table": table, "rows": len(rows)})
