"""Activity of the last 30 days from the ledger (what was saved to the CRM): per day (emails
and meetings), per person, by how it was saved, and the top accounts; plus the geometry of
the server-drawn SVG bar charts (no script, no charting library)."""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field
from datetime import date, timedelta

from sqlalchemy import select

from ..db import get_session, utcnow
from ..models.ledger import LedgerEntry
from ..models.tenancy import User

DAYS = 30
TOP_ACCOUNTS = 10
SOURCE_LABELS = {
    "manual": "by hand (sidebar)",
    "thread": "thread auto-save",
    "auto": "background sync",
    "meeting": "meeting sync",
}


@dataclass
class Activity:
    days: list[tuple[date, int, int]]  # day, emails, meetings
    people: list[tuple[str, int, int]]  # name, emails, meetings
    sources: list[tuple[str, int]]
    accounts: list[tuple[str, str, int]]  # id, name, items
    total: int = 0
    account_names: dict[str, str] = field(default_factory=dict)


def activity(org_id: int, today: date | None = None) -> Activity:
    today = today or utcnow().date()
    first = today - timedelta(days=DAYS - 1)
    since = utcnow() - timedelta(days=DAYS)
    rows = (
        get_session()
        .execute(
            select(
                LedgerEntry.kind,
                LedgerEntry.source,
                LedgerEntry.user_id,
                LedgerEntry.updated_at,
                LedgerEntry.links,
            ).where(
                LedgerEntry.org_id == org_id,
                LedgerEntry.status == "saved",
                LedgerEntry.updated_at >= since,
            )
        )
        .all()
    )
    per_day = {first + timedelta(days=i): [0, 0] for i in range(DAYS)}
    per_user: dict[int | None, list[int]] = {}
    sources: Counter[str] = Counter()
    accounts: Counter[str] = Counter()
    for kind, source, user_id, at, links in rows:
        slot = 1 if kind == "meeting" else 0
        if at.date() in per_day:
            per_day[at.date()][slot] += 1
        per_user.setdefault(user_id, [0, 0])[slot] += 1
        sources[SOURCE_LABELS.get(source, source)] += 1
        for link in links or []:
            if isinstance(link, dict) and link.get("type") == "account":
                accounts[str(link.get("id"))] += 1
    names = dict(
        get_session()
        .execute(
            select(User.id, User.display_name).where(
                User.org_id == org_id, User.id.in_([u for u in per_user if u is not None])
            )
        )
        .all()
    )
    people = sorted(
        ((names.get(u) or "(former user)", e, m) for u, (e, m) in per_user.items()),
        key=lambda p: (-(p[1] + p[2]), p[0]),
    )
    return Activity(
        days=[(d, e, m) for d, (e, m) in sorted(per_day.items())],
        people=people,
        sources=sources.most_common(),
        accounts=[(a, a, n) for a, n in accounts.most_common(TOP_ACCOUNTS)],
        total=len(rows),
    )


@dataclass(frozen=True)
class Bar:
    x: float
    y: float
    width: float
    height: float
    label: str
    value: int
    css: str


def day_bars(days: list[tuple[date, int, int]], width: int = 900, height: int = 180):
    """Stacked bars (emails below, meetings above) per day, in SVG user units."""
    top = max([e + m for _, e, m in days] + [1])
    step = width / max(len(days), 1)
    bars = []
    for i, (day, emails, meetings) in enumerate(days):
        x = i * step + 2
        h_e = height * emails / top
        h_m = height * meetings / top
        label = day.isoformat()
        bars.append(
            Bar(x, height - h_e, step - 4, h_e, f"{label}: {emails} emails", emails, "email")
        )
        bars.append(
            Bar(
                x,
                height - h_e - h_m,
                step - 4,
                h_m,
                f"{label}: {meetings} meetings",
                meetings,
                "meeting",
            )
        )
    return bars, top


def hbars(items: list[tuple[str, int]], width: int = 420, row: int = 22):
    """Horizontal bars for a ranking (people, sources, accounts)."""
    top = max([n for _, n in items] + [1])
    return [
        Bar(0, i * row, max(1.0, (width - 10) * n / top), row - 6, name, n, "email")
        for i, (name, n) in enumerate(items)
    ]
