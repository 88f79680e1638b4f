"""The activity writer's ledger protocol for emails: claim → write to the CRM by key → mark
saved (DESIGN.md, "Data that must never go wrong").

1. `claim`: insert the ledger rows as `pending`, with the draft kept (`INSERT … ON CONFLICT DO
   NOTHING RETURNING`), and commit. A row that already exists belongs to whoever inserted it:
   only the writer whose insert returned the key writes it to the CRM, so two writers (two
   users' sessions sharing an email, a pane save racing the sync) never both create it.
   A writer's own row left pending (a crash between claim and mark) is claimed again.
2. The caller writes the claimed items to the CRM by our key — with no transaction open.
3. `mark_saved`: the row becomes `saved` with the activity id and the links really written;
   the draft is dropped unless someone added links meanwhile (then the tick adds them).

A writer that lost the claim on a row still pending hands its links to the row (`join`): the
row keeps a draft with every link, and the tick (`requeue_pending_saves`) re-drives it.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from sqlalchemy import and_, or_, select, update
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.orm import Session

from .crm.base import ActivityDraft, Link
from .db import utcnow
from .models.ledger import LedgerEntry
from .pane.drafts import draft_to_json, link_dicts

CLAIM_CHUNK = 500


def pending_row(
    *,
    org_id: int,
    user_id: int,
    target: str,
    source: str,
    draft: ActivityDraft,
    conversation_id: str = "",
    participants: Iterable[str] = (),
) -> dict[str, Any]:
    now = utcnow()
    return {
        "org_id": org_id,
        "user_id": user_id,
        "item_key": draft.key,
        "kind": "email",
        "crm_target": target,
        "status": "pending",
        "source": source,
        "activity_id": None,
        "conversation_id": (conversation_id or "")[:512],
        "subject": draft.subject[:255],
        "participants": list(participants)[:200],
        "links": link_dicts(draft.links),
        "pending_draft": draft_to_json(draft),
        "last_error": "",
        "item_at": draft.start,
        "created_at": now,
        "updated_at": now,
    }


def _same_writer(source: str):
    """Rows of the same writer as `source`: the pane ("manual") or the sync (the rest; one
    session per mailbox at a time, so its earlier pending rows are a dead session's)."""
    if source == "manual":
        return LedgerEntry.source == "manual"
    return LedgerEntry.source != "manual"


def claim(db: Session, rows: list[dict[str, Any]]) -> set[str]:
    """Insert `rows` as pending claims and commit; returns the keys this writer now owns:
    those it inserted, its own rows still pending from an earlier attempt (same user, same
    kind of writer), and rows whose write failed for good (nobody is writing them)."""
    if not rows:
        return set()
    module = postgresql if db.get_bind().dialect.name == "postgresql" else sqlite
    stmt = (
        module.insert(LedgerEntry.__table__)
        .on_conflict_do_nothing()
        .returning(LedgerEntry.__table__.c.item_key)
    )
    owned: set[str] = set()
    for start in range(0, len(rows), CLAIM_CHUNK):
        part = rows[start : start + CLAIM_CHUNK]
        owned.update(db.execute(stmt, part).scalars().all())
    lost = [row["item_key"] for row in rows if row["item_key"] not in owned]
    if lost:
        first = rows[0]
        owned.update(
            db.scalars(
                select(LedgerEntry.item_key).where(
                    LedgerEntry.org_id == first["org_id"],
                    LedgerEntry.crm_target == first["crm_target"],
                    LedgerEntry.item_key.in_(lost),
                    or_(
                        and_(
                            LedgerEntry.user_id == first["user_id"],
                            LedgerEntry.status == "pending",
                            # The same kind of writer only: a user's pane save and that
                            # user's sync run at once, and both writing one email would
                            # create it twice where the CRM's key is looked up first.
                            _same_writer(first["source"]),
                        ),
                        LedgerEntry.status == "failed",  # nobody is writing it
                    ),
                )
            )
        )
    db.commit()
    return owned


def reclaim_removed(db: Session, entry_id: int, user_id: int, draft: ActivityDraft) -> bool:
    """The user's own save of an email they removed from the CRM: the row becomes their
    pending claim again (one conditional update, so two saves cannot both win); commits."""
    claimed = db.execute(
        update(LedgerEntry)
        .where(LedgerEntry.id == entry_id, LedgerEntry.status == "removed")
        .values(
            status="pending",
            source="manual",
            user_id=user_id,
            links=link_dicts(draft.links),
            pending_draft=draft_to_json(draft),
            last_error="",
            updated_at=utcnow(),
        )
    ).rowcount
    db.commit()
    return claimed == 1


def _entry(db: Session, org_id: int, target: str, key: str) -> LedgerEntry | None:
    return db.scalar(
        select(LedgerEntry)
        .where(
            LedgerEntry.org_id == org_id,
            LedgerEntry.crm_target == target,
            LedgerEntry.item_key == key,
        )
        .with_for_update()
    )


def mark_saved(
    db: Session,
    org_id: int,
    target: str,
    key: str,
    activity_id: str,
    links: list[Link],
    linked: list[Link] | None = None,
) -> None:
    """The claimed row is saved (in the caller's transaction). `links` are what this writer
    asked for, `linked` what the CRM holds of them (all by default): a CRM may hold fewer
    (Salesforce relates an email to one account or opportunity), and the row keeps only what
    the CRM holds, so the pane's ticks never claim a link that does not exist. Links another
    writer joined while we wrote stay in the draft, so the tick adds them."""
    entry = _entry(db, org_id, target, key)
    if entry is None:
        return
    asked = {(d["type"], str(d["id"])) for d in link_dicts(links)}
    held = link_dicts(links if linked is None else linked)
    joined = [d for d in entry.links or [] if (d["type"], str(d["id"])) not in asked]
    entry.status = "saved"
    entry.activity_id = str(activity_id)
    entry.links = held + [d for d in joined if d not in held]
    entry.last_error = ""
    if not joined:
        entry.pending_draft = None


def join(db: Session, org_id: int, target: str, draft: ActivityDraft) -> bool:
    """Hand `draft`'s links to the row another writer claimed (in the caller's transaction):
    its draft gains them, so they are written by key by the tick if the owner has already
    written without them. False when the row has every link already."""
    entry = _entry(db, org_id, target, draft.key)
    if entry is None or entry.status == "removed":  # removed by the user: not written again
        return False
    have = {(d["type"], str(d["id"])) for d in entry.links or []}
    more = [d for d in link_dicts(draft.links) if (d["type"], str(d["id"])) not in have]
    if not more:
        return False
    entry.links = [*(entry.links or []), *more]
    if entry.pending_draft is None:
        entry.pending_draft = draft_to_json(draft)
    entry.updated_at = utcnow()
    return True
