"""Thread auto-save covers the whole thread (PRODUCT §1): when the user switches it on, the
conversation's emails already in the mailbox are saved too, not only the later ones.

The sync session does it (SessionRunner.run), so it is one more reader of the mailbox inside
the one session a mailbox may have running at a time — never a second writer racing the
sync. Each rule switched on and not yet `backfilled_at`: Graph's messages of the conversation
within the history window (server/mail/graph_threads.py), only those in the folders the sync
reads, through the same pipeline as delta pages (screening, the thread rule's links, the
activity writer's claim → write → mark saved). An email saved already (by hand, by an earlier
read, by a colleague's session) is not written again: the ledger and the writer's claim see
to that. The rule is marked done in the same commit as what it saved; a crash before that
only means the next session reads the conversation again, which saves nothing twice."""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime
from functools import cache

from sqlalchemy import bindparam, select
from sqlalchemy.orm import Session

from ..db import utcnow
from ..mail.graph import MESSAGE_FIELDS, MESSAGE_PREFER
from ..mail.graph_parse import Skipped, parse_message
from ..mail.graph_threads import conversation_messages
from ..models.ledger import ThreadRule
from ..models.sync import SyncState
from .page import PageResult

# Rules read per pass of a session; more wait for the next pass or session (a user who
# switches on hundreds of threads at once must not hold one session for hours).
RULES_PER_PASS = 50


def pending_rules(db: Session, user_id: int) -> list[ThreadRule]:
    return list(db.scalars(_pending_statement(), {"user_id": user_id}))


@cache
def _pending_statement():
    """Built once, the user bound at execution (as in policy/store): on every session."""
    return (
        select(ThreadRule)
        .where(
            ThreadRule.user_id == bindparam("user_id"),
            ThreadRule.enabled.is_(True),
            ThreadRule.backfilled_at.is_(None),
        )
        .order_by(ThreadRule.updated_at, ThreadRule.id)
        .limit(RULES_PER_PASS)
    )


def backfill_rule(
    client,
    rule: ThreadRule,
    folders: list[SyncState],
    since: datetime,
    process: Callable[[list, str], PageResult],
) -> PageResult:
    """Read and save the rule's conversation; marks the rule done (the caller commits)."""
    raws = conversation_messages(
        client, rule.conversation_id, since, MESSAGE_FIELDS, prefer=MESSAGE_PREFER
    )
    by_folder = {s.folder_id: s for s in folders}
    total = PageResult()
    grouped: dict[str, list] = {}
    for raw in raws:
        state = by_folder.get(str(raw.get("parentFolderId") or ""))
        if state is None:
            # Deleted Items, Junk, Drafts, or a folder the user does not sync.
            total.read += 1
            total.counts["thread_other_folder"] += 1
            continue
        parsed = parse_message(raw, state.folder_name)
        if isinstance(parsed, Skipped):
            total.read += 1
            total.counts[f"invalid_{parsed.reason}"] += 1
            continue
        grouped.setdefault(state.folder_id, []).append(parsed)
    for folder_id, messages in grouped.items():
        result = process(messages, folder_id)
        total.read += result.read
        total.saved += result.saved
        total.created += result.created
        total.errors += result.errors
        total.counts.update(result.counts)
    rule.backfilled_at = utcnow()
    return total
