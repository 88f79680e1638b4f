"""The admin's users table: everyone of the tenant (the directory's users and whoever signed
in), one page at a time, with health for that page in a fixed number of queries.

A row is a directory member and/or a Courier user, joined on the object id. Every sort
and filter runs in SQL, health included: the state is one SQL expression over each user's
sync summary (sync/health_sql), the same one the Overview counts group by.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from sqlalchemy import String, and_, case, exists, func, literal, null, or_, select, union_all

from ..db import UTCDateTime, get_session, utcnow
from ..models.admin import DirectoryMember
from ..models.connections import OrgAllowedUser
from ..models.ledger import LedgerEntry
from ..models.tenancy import Organisation, User
from ..sync.app_mode import IN_SCOPE
from ..sync.health_sql import health_subquery, saved_since_column
from .tables import TableParams

SORTABLE = ("name", "email", "state", "last_success", "saved", "role", "allowed")
STATES = (
    "disabled",
    "not_started",
    "initializing",
    "up_to_date",
    "delayed",
    "stalled",
    "needs_reauth",
    # Application mode (server/sync/health_app.py).
    "app_grant_missing",
    "not_in_app_scope",
    "removed_from_scope",
)
# Sorting by state: the ones needing action first when descending is not asked.
STATE_ORDER = (
    "needs_reauth",
    "stalled",
    "app_grant_missing",
    "not_in_app_scope",
    "delayed",
    "initializing",
    "up_to_date",
    "not_started",
    "removed_from_scope",
    "disabled",
)
_ERROR_STATES = ("stalled", "delayed", "needs_reauth", "not_in_app_scope")
_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)


@dataclass
class PersonRow:
    object_id: str
    name: str
    email: str
    user: User | None
    allowed: bool
    state: str = "not_started"
    last_success_at: datetime | None = None
    progress: dict | None = None
    last_error: str = ""
    saved_7d: int = 0

    @property
    def key(self) -> str:
        """What a bulk action names a row by: the object id (users may not have signed in)."""
        return self.object_id


@dataclass(frozen=True)
class PeopleFilter:
    q: str = ""
    role: str = ""  # admin | user | ""
    allowed: str = ""  # yes | no | ""
    state: str = ""
    scope: str = ""  # in | out | "": application mode's scope (User.app_scope == 'in')


def _signed_in(org: Organisation):
    """A directory member who is also a Courier user; by (tenant id, object id), the users
    table's unique key, so the check is an index lookup."""
    return exists().where(
        User.tenant_id == org.tenant_id, User.object_id == DirectoryMember.object_id
    )


HEALTH_COLUMNS = ("state", "last_success_at", "last_error", "items_read", "estimate")


def _rows_subquery(org: Organisation, with_health: bool = True, user_ids=None):
    """Everyone: Courier users (with their health — one SQL expression, sync/health_sql —
    when asked) and directory members who never signed in (not started)."""
    org_id = org.id
    users = select(
        User.object_id.label("object_id"),
        User.display_name.label("name"),
        User.email.label("email"),
        User.id.label("user_id"),
        User.role.label("role"),
        User.app_scope.label("app_scope"),
    ).where(User.org_id == org_id)
    members = select(
        DirectoryMember.object_id,
        DirectoryMember.display_name,
        DirectoryMember.email,
        null().label("user_id"),
        literal("user", String).label("role"),
        null().label("app_scope"),  # never signed in: outside the scope (no user row)
    ).where(DirectoryMember.org_id == org_id, ~_signed_in(org))
    if with_health:
        health = health_subquery(org_id, user_ids=user_ids)
        users = users.join(health, health.c.user_id == User.id).add_columns(
            *(health.c[name] for name in HEALTH_COLUMNS)
        )
        members = members.add_columns(
            literal("not_started", String).label("state"),
            null().label("last_success_at"),
            literal("", String).label("last_error"),
            null().label("items_read"),
            null().label("estimate"),
        )
    return union_all(users, members).subquery("people")


def _query(org: Organisation, flt: PeopleFilter, sort: str = ""):
    org_id = org.id
    # Health for everyone only when the sort or filter needs it; otherwise for the page.
    people = _rows_subquery(org, flt.state in STATES or sort in ("state", "last_success"))
    allowed = exists().where(
        OrgAllowedUser.org_id == org_id, OrgAllowedUser.object_id == people.c.object_id
    )
    allowed_col = case((allowed, 1), else_=0).label("allowed")
    columns = [people, allowed_col]
    saved = None
    if sort == "saved":
        # Only sorting needs everyone's count; a page's own counts are read for the page.
        saved = func.coalesce(saved_since_column(people.c.user_id), 0).label("saved_7d")
        columns.append(saved)
    query = select(*columns)
    if flt.q:
        needle = f"%{flt.q.lower()}%"
        query = query.where(
            or_(func.lower(people.c.name).like(needle), func.lower(people.c.email).like(needle))
        )
    if flt.role in ("admin", "user"):
        query = query.where(people.c.role == flt.role)
    if flt.allowed in ("yes", "no"):
        query = query.where(allowed if flt.allowed == "yes" else ~allowed)
    if flt.state in STATES:
        query = query.where(people.c.state == flt.state)
    if flt.scope in ("in", "out"):
        # A column of the people rows, like the role: NULL (directory-only people, users
        # never put in scope) counts as out.
        in_scope = func.coalesce(people.c.app_scope, "") == IN_SCOPE
        query = query.where(in_scope if flt.scope == "in" else ~in_scope)
    return query, people, allowed_col, saved


def _order(people, allowed_col, saved, params: TableParams):
    if params.sort == "state":
        column = case({s: i for i, s in enumerate(STATE_ORDER)}, value=people.c.state, else_=99)
    elif params.sort == "last_success":
        # Never synced sorts as the oldest.
        column = func.coalesce(people.c.last_success_at, literal(_EPOCH, UTCDateTime()))
    elif params.sort == "saved":
        column = saved
    else:
        column = {
            "name": func.lower(people.c.name),
            "email": func.lower(people.c.email),
            "role": people.c.role,
            "allowed": allowed_col,
        }[params.sort]
    primary = column.desc() if params.descending else column.asc()
    return [primary, people.c.object_id]


def list_people(
    org: Organisation, flt: PeopleFilter, params: TableParams
) -> tuple[list[PersonRow], int]:
    """One page of rows and the total matching. Queries: the page's keys in order (the total
    rides along), the page's health, its users and their saved counts — the same number
    whatever the organisation's size, whatever the sort and filter."""
    db = get_session()
    query, people, allowed_col, saved = _query(org, flt, params.sort)
    ordered = query.order_by(*_order(people, allowed_col, saved, params))
    # The total rides along with the page (a window count), so the union is read once.
    records = db.execute(
        ordered.add_columns(func.count().over().label("total"))
        .offset(params.offset)
        .limit(params.per_page)
    ).all()
    if records:
        total = records[0].total
    else:  # past the last page: count on its own
        total = db.scalar(select(func.count()).select_from(query.subquery())) or 0
    page = _with_users(records, _page_health(org, records))
    _fill_saved(page)
    return page, total


def _page_health(org: Organisation, records) -> dict:
    """The page's users' health by the same SQL expression (one query)."""
    ids = [r.user_id for r in records if r.user_id is not None]
    if not ids:
        return {}
    health = health_subquery(org.id, user_ids=ids)
    return {row.user_id: row for row in get_session().execute(select(health))}


def _with_users(records, health: dict) -> list[PersonRow]:
    ids = [r.user_id for r in records if r.user_id is not None]
    users = {}
    if ids:
        users = {u.id: u for u in get_session().scalars(select(User).where(User.id.in_(ids)))}
    return [_row(r, users.get(r.user_id), health.get(r.user_id)) for r in records]


def _row(r, user: User | None, h) -> PersonRow:
    if h is None:  # in the directory, never signed in: not started
        return PersonRow(r.object_id, r.name or "", r.email or "", None, bool(r.allowed))
    return PersonRow(
        object_id=r.object_id,
        name=r.name or "",
        email=r.email or "",
        user=user,
        allowed=bool(r.allowed),
        state=h.state,
        last_success_at=_aware(h.last_success_at),
        progress=(
            {"read": h.items_read, "estimate": max(h.estimate or 0, h.items_read or 0)}
            if h.state == "initializing" and h.items_read is not None
            else None
        ),
        last_error=_last_error(h, user),
    )


def _last_error(h, user: User | None) -> str:
    """What sync.health shows as the last error, state by state (health_app.app_error)."""
    if h.state == "app_grant_missing":
        return (user.organisation.app_grant_error or "") if user is not None else ""
    return (h.last_error or "") if h.state in _ERROR_STATES else ""


def _aware(moment):
    """A datetime read through a union loses the column type on SQLite: make it UTC-aware."""
    if isinstance(moment, str):
        moment = datetime.fromisoformat(moment)
    if moment is not None and moment.tzinfo is None:
        moment = moment.replace(tzinfo=UTC)
    return moment


def _fill_saved(rows: list[PersonRow]) -> None:
    """Items saved in the last 7 days per user: one grouped query for the page."""
    ids = [r.user.id for r in rows if r.user is not None]
    if not ids:
        return
    since = utcnow() - timedelta(days=7)
    counts = dict(
        get_session()
        .execute(
            select(LedgerEntry.user_id, func.count(func.distinct(LedgerEntry.item_key)))
            .where(
                and_(
                    LedgerEntry.user_id.in_(ids),
                    LedgerEntry.status == "saved",
                    LedgerEntry.updated_at >= since,
                )
            )
            .group_by(LedgerEntry.user_id)
        )
        .all()
    )
    for row in rows:
        if row.user is not None:
            row.saved_7d = counts.get(row.user.id, 0)


def state_counts(org: Organisation) -> dict[str, int]:
    """Users per sync state (Overview): the users table's own state expression, grouped —
    so a count and the filtered list it links to always agree. One query."""
    people = _rows_subquery(org)
    counts = dict.fromkeys(STATES, 0)
    for state, count in get_session().execute(
        select(people.c.state, func.count()).group_by(people.c.state)
    ):
        counts[state] = count
    return counts
