"""The admin's users table: everyone of the tenant (the directory's users and whoever signed
in), one page at a time, with health for that page in a fixed number of queries.

A row is a directory member and/or a Courier user, joined on the object id. Sorting and
filtering by name, address, role and "allowed" run in SQL; filtering by sync state needs the
state of every user, computed in the same batched way (sync/health.states_for_users).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import String, and_, case, exists, func, literal, null, or_, select, union_all

from ..db import get_session, utcnow
from ..models.admin import DirectoryMember
from ..models.connections import OrgAllowedUser
from ..models.ledger import LedgerEntry
from ..models.tenancy import Organisation, User
from ..sync.health import states_for_users
from .tables import TableParams

SORTABLE = ("name", "email", "role", "allowed")
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


def _signed_in(org: Organisation):
    """A directory member who is also a Courier user; by (tenant id, object id), the users
    table's unique key, so the check is an index lookup."""
    return exists().where(
        User.tenant_id == org.tenant_id, User.object_id == DirectoryMember.object_id
    )


def _rows_subquery(org: Organisation):
    org_id = org.id
    users = select(
        User.object_id.label("object_id"),
        User.display_name.label("name"),
        User.email.label("email"),
        User.id.label("user_id"),
        User.role.label("role"),
    ).where(User.org_id == org_id)
    signed_in = _signed_in(org)
    members = select(
        DirectoryMember.object_id,
        DirectoryMember.display_name,
        DirectoryMember.email,
        null().label("user_id"),
        literal("user", String).label("role"),
    ).where(DirectoryMember.org_id == org_id, ~signed_in)
    return union_all(users, members).subquery("people")


def _query(org: Organisation, flt: PeopleFilter):
    org_id = org.id
    people = _rows_subquery(org)
    allowed = exists().where(
        OrgAllowedUser.org_id == org_id, OrgAllowedUser.object_id == people.c.object_id
    )
    allowed_col = case((allowed, 1), else_=0).label("allowed")
    query = select(people, allowed_col)
    if flt.q:
        needle = f"%{flt.q.lower()}%"
        query = query.where(
            or_(func.lower(people.c.name).like(needle), func.lower(people.c.email).like(needle))
        )
    if flt.role in ("admin", "user"):
        query = query.where(people.c.role == flt.role)
    if flt.allowed in ("yes", "no"):
        query = query.where(allowed if flt.allowed == "yes" else ~allowed)
    return query, people, allowed_col


def _order(people, allowed_col, params: TableParams):
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
    """One page of rows and the total matching. Queries: count, page, users, and the health
    batch — the same number whatever the organisation's size."""
    db = get_session()
    query, people, allowed_col = _query(org, flt)
    ordered = query.order_by(*_order(people, allowed_col, params))
    if flt.state in STATES:
        rows = _with_users(db.execute(ordered).all())
        _fill_health(rows)
        rows = [r for r in rows if r.state == flt.state]
        total = len(rows)
        page = rows[params.offset : params.offset + params.per_page]
        _fill_saved(page)
        return page, total
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
    page = _with_users(records)
    _fill_health(page)
    _fill_saved(page)
    return page, total


def _with_users(records) -> list[PersonRow]:
    ids = [r.user_id for r in records if r.user_id is not None]
    users = {}
    if ids:
        users = {u.id: u for u in get_session().scalars(select(User).where(User.id.in_(ids)))}
    return [
        PersonRow(
            object_id=r.object_id,
            name=r.name or "",
            email=r.email or "",
            user=users.get(r.user_id) if r.user_id is not None else None,
            allowed=bool(r.allowed),
        )
        for r in records
    ]


def _fill_health(rows: list[PersonRow]) -> None:
    users = [r.user for r in rows if r.user is not None]
    health = states_for_users(users)
    for row in rows:
        if row.user is None:
            continue  # in the directory, never signed in: not started
        found = health[row.user.id]
        row.state = found["state"]
        row.last_success_at = found["last_success_at"]
        row.progress = found["progress"]
        row.last_error = found["last_error"]


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
    """Users per sync state (Overview): every Courier user's state, plus directory members
    who never signed in as not_started."""
    db = get_session()
    users = list(db.scalars(select(User).where(User.org_id == org.id)))
    counts = dict.fromkeys(STATES, 0)
    for found in states_for_users(users).values():
        counts[found["state"]] += 1
    never = db.scalar(
        select(func.count())
        .select_from(DirectoryMember)
        .where(DirectoryMember.org_id == org.id, ~_signed_in(org))
    )
    counts["not_started"] += never or 0
    return counts
