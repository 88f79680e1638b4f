"""Moving records' last_activity_at forward (never back) after activities are logged.

PostgreSQL: one UPDATE per record type over unnest()ed arrays (two bind parameters whatever
the number of records). An executemany there is one statement per record (psycopg pipelines
them, still a round trip's work each). SQLite: executemany of one cached UPDATE, in-process.
"""

from __future__ import annotations

from collections import defaultdict
from datetime import datetime

from sqlalchemy import bindparam, or_, text, update
from sqlalchemy.orm import Session

from ...db import utcnow
from ..base import Link
from .models import CrmAccount, CrmContact, CrmLead, CrmOpportunity
from .records import record_id

RECORD_TABLES = {
    "contact": CrmContact,
    "lead": CrmLead,
    "account": CrmAccount,
    "opportunity": CrmOpportunity,
}
# The rows are locked in id order first (LockRows above the Sort), as the SQLite path's
# sorted executemany does: two writers touching the same records cannot deadlock.
_UNNEST_UPDATE = """
WITH wanted AS (
  SELECT t.id, v.moment
  FROM {table} AS t
  JOIN unnest(CAST(:rids AS integer[]), CAST(:moments AS timestamptz[])) AS v(rid, moment)
    ON t.id = v.rid
  WHERE t.org_id = :org_id AND (t.last_activity_at IS NULL OR t.last_activity_at < v.moment)
  ORDER BY t.id
  FOR UPDATE OF t
)
UPDATE {table} AS t SET last_activity_at = wanted.moment
FROM wanted
WHERE t.id = wanted.id AND (t.last_activity_at IS NULL OR t.last_activity_at < wanted.moment)
"""


def newest_moments(activities, links: dict[int, list[Link]]) -> dict[tuple[str, int], datetime]:
    """(record type, id) → the latest start among these activities linked to it.

    Cancelled meetings and meetings still in the future are not interactions (yet)."""
    now = utcnow()
    newest: dict[tuple[str, int], datetime] = {}
    for activity in activities.values():
        if activity.cancelled or activity.start > now:
            continue
        for link in links.get(activity.id, ()):
            target = (link.ref.type, record_id(link.ref.id) or 0)
            if target not in newest or newest[target] < activity.start:
                newest[target] = activity.start
    return newest


def touch_records(session: Session, org_id: int, activities, links) -> None:
    by_type: dict[str, list[tuple[int, datetime]]] = defaultdict(list)
    for (record_type, rid), moment in sorted(newest_moments(activities, links).items()):
        by_type[record_type].append((rid, moment))  # sorted: row locks taken in one order
    connection = session.connection()
    postgresql = connection.dialect.name == "postgresql"
    for record_type, pairs in by_type.items():
        table = RECORD_TABLES[record_type].__table__
        if postgresql:
            connection.execute(
                text(_UNNEST_UPDATE.format(table=table.name)),
                {
                    "rids": [rid for rid, _ in pairs],
                    "moments": [moment for _, moment in pairs],
                    "org_id": org_id,
                },
            )
            continue
        stmt = (
            update(table)
            .where(
                table.c.id == bindparam("rid"),
                table.c.org_id == org_id,
                or_(
                    table.c.last_activity_at.is_(None),
                    table.c.last_activity_at < bindparam("moment"),
                ),
            )
            .values(last_activity_at=bindparam("moment"))
        )
        connection.execute(stmt, [{"rid": rid, "moment": moment} for rid, moment in pairs])
