"""Web pages of the built-in CRM: record lists (search, "last interaction" sort, pages) and a
record page with its timeline of emails and meetings.

Whose CRM: the signed-in user's organisation, in every mode. There is no anonymous view, not
even of the demo organisation while the sandbox is on: the demo's saved emails are as private
as anyone's, and a signed-out browser's old cookie must not show them either.
"""

from __future__ import annotations

from datetime import date, datetime

from flask import Blueprint, abort, g, render_template, request, url_for

from ...auth.decorators import login_required
from ...db import get_session
from . import browse

bp = Blueprint("crm_pages", __name__, url_prefix="/crm")

LISTS = {
    "account": ("accounts", "Accounts"),
    "contact": ("contacts", "Contacts"),
    "lead": ("leads", "Leads"),
    "opportunity": ("opportunities", "Opportunities"),
}


@bp.before_request
@login_required
def _sign_in_first() -> None:
    """Every page of this blueprint: a live browser session or the sign-in redirect (which
    `login_required` answers); then flask.g holds the user and organisation."""
    return None


def current_org_id() -> int:
    """The organisation whose CRM the pages show: the signed-in user's."""
    return g.org.id


def _when(value: datetime | date | None) -> str:
    if value is None:
        return ""
    if isinstance(value, datetime):
        return value.strftime("%Y-%m-%d %H:%M UTC")
    return value.isoformat()


def _money(amount: float | None) -> str:
    return "" if amount is None else f"{amount:,.0f}"


def _link(kind: str, record_id: int | None) -> str | None:
    return url_for(".record", kind=kind, record_id=record_id) if record_id is not None else None


def _rows(org_id: int, kind: str, items: list) -> tuple[list[str], list[list[tuple]]]:
    """Column headings and cells (text, url or None) of a list page."""
    db = get_session()
    owners = browse.owner_names(db, org_id)
    ids = [item.id for item in items]
    if kind == "account":
        domains = browse.domains_of(db, org_id, ids)
        return ["Name", "Domains", "Owner", "Last interaction"], [
            [
                (a.name, _link("account", a.id)),
                (", ".join(domains[a.id]), None),
                (owners.get(a.owner_id or "", ""), None),
                (_when(a.last_activity_at), None),
            ]
            for a in items
        ]
    if kind == "contact":
        emails = browse.emails_of(db, org_id, ids)
        accounts = browse.account_names(db, org_id, {c.account_id for c in items})
        return ["Name", "Email", "Title", "Account", "Owner", "Last interaction"], [
            [
                (c.name, _link("contact", c.id)),
                (", ".join(emails[c.id]), None),
                (c.title, None),
                (accounts.get(c.account_id, ""), _link("account", c.account_id)),
                (owners.get(c.owner_id or "", ""), None),
                (_when(c.last_activity_at), None),
            ]
            for c in items
        ]
    if kind == "lead":
        return ["Name", "Email", "Company", "Status", "Owner", "Last interaction"], [
            [
                (lead.name, _link("lead", lead.id)),
                (lead.email, None),
                (lead.company, None),
                (lead.status, None),
                (owners.get(lead.owner_id or "", ""), None),
                (_when(lead.last_activity_at), None),
            ]
            for lead in items
        ]
    accounts = browse.account_names(db, org_id, {o.account_id for o in items})
    return ["Name", "Account", "Stage", "Amount", "Close date", "Owner", "Last interaction"], [
        [
            (o.name, _link("opportunity", o.id)),
            (accounts.get(o.account_id, ""), _link("account", o.account_id)),
            (o.stage, None),
            (_money(o.amount), None),
            (_when(o.close_date), None),
            (owners.get(o.owner_id or "", ""), None),
            (_when(o.last_activity_at), None),
        ]
        for o in items
    ]


def _list_page(kind: str):
    org_id = current_org_id()
    text = request.args.get("q", "")[:200]
    sort = request.args.get("sort", "name")
    sort = sort if sort in browse.SORTS else "name"
    page_number = request.args.get("page", "1")
    page_number = int(page_number) if page_number.isdigit() and len(page_number) < 7 else 1
    page = browse.list_records(get_session(), org_id, kind, text, sort, page_number)
    columns, rows = _rows(org_id, kind, page.items)
    endpoint, title = LISTS[kind]
    return render_template(
        "crm/list.html",
        title=title,
        endpoint=f".{endpoint}",
        lists=LISTS,
        columns=columns,
        rows=rows,
        page=page,
        q=text,
        sort=sort,
    )


@bp.get("/")
@bp.get("/accounts")
def accounts():
    return _list_page("account")


@bp.get("/contacts")
def contacts():
    return _list_page("contact")


@bp.get("/leads")
def leads():
    return _list_page("lead")


@bp.get("/opportunities")
def opportunities():
    return _list_page("opportunity")


@bp.get("/<any(account, contact, lead, opportunity):kind>/<int:record_id>")
def record(kind: str, record_id: int):
    org_id = current_org_id()
    db = get_session()
    item = browse.get_record(db, org_id, kind, record_id) if record_id < 2**31 else None
    if item is None:
        abort(404)
    owners = browse.owner_names(db, org_id)
    fields: list[tuple[str, str, str | None]] = [
        ("Owner", owners.get(item.owner_id or "", ""), None)
    ]
    if kind == "account":
        fields.insert(
            0, ("Domains", ", ".join(browse.domains_of(db, org_id, [item.id])[item.id]), None)
        )
    elif kind == "contact":
        account = browse.account_names(db, org_id, {item.account_id})
        fields[:0] = [
            ("Email", ", ".join(browse.emails_of(db, org_id, [item.id])[item.id]), None),
            ("Title", item.title, None),
            ("Account", account.get(item.account_id, ""), _link("account", item.account_id)),
        ]
    elif kind == "lead":
        fields[:0] = [
            ("Email", item.email, None),
            ("Company", item.company, None),
            ("Status", item.status, None),
        ]
    else:
        account = browse.account_names(db, org_id, {item.account_id})
        fields[:0] = [
            ("Account", account.get(item.account_id, ""), _link("account", item.account_id)),
            ("Stage", item.stage, None),
            ("Amount", _money(item.amount), None),
            ("Close date", _when(item.close_date), None),
        ]
    fields.append(("Last interaction", _when(item.last_activity_at), None))
    return render_template(
        "crm/record.html",
        kind=kind,
        kind_label=kind.capitalize(),
        item=item,
        fields=fields,
        related=browse.related(db, org_id, kind, item),
        timeline=browse.timeline(db, org_id, kind, item.id),
        lists=LISTS,
        when=_when,
        money=_money,
    )
