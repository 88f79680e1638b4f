""" "Why not saved?": search one user's mailbox (subject, address or internetMessageId) through
Microsoft Graph with that user's own delegated token — the one background sync reads with —
and say for each message what Courier decided and why, with the same screening, policy and
ledger the sync uses.

Graph: GET /users/{id}/messages with `$filter=internetMessageId eq '...'` or
`$search="..."` (https://learn.microsoft.com/graph/api/user-list-messages,
https://learn.microsoft.com/graph/search-query-parameter).
"""

from __future__ import annotations

from dataclasses import dataclass
from urllib.parse import quote

from flask import current_app
from sqlalchemy import select

from ..auth.tokens import NeedsReauth, TokenUnavailable, graph_token_for
from ..db import get_session
from ..mail.graph import MESSAGE_FIELDS, GraphClient
from ..mail.graph_errors import GraphError
from ..mail.graph_parse import Skipped, parse_message
from ..models.ledger import LedgerEntry, ThreadRule
from ..models.tenancy import User
from ..policy import effective_policy
from ..rules.explain import reason_text
from ..rules.screening import screen

MAX_RESULTS = 25


class LookupUnavailable(Exception):
    """The user's mailbox cannot be read now (no token, Graph failing)."""


@dataclass(frozen=True)
class Finding:
    subject: str
    sender: str
    received: str
    key: str
    decision: str  # saved | pending | failed | skipped | not_saved
    reason: str


def _query_url(user: User, text: str) -> str:
    base = f"users/{user.object_id}/messages?$select={MESSAGE_FIELDS}&$top={MAX_RESULTS}"
    if text.startswith("<") and text.endswith(">") and "@" in text:
        escaped = text.replace("'", "''")  # OData string literal
        return f"{base}&$filter=" + quote(f"internetMessageId eq '{escaped}'")
    cleaned = " ".join(text.replace('"', " ").split())
    return f"{base}&$search=" + quote(f'"{cleaned}"')


def lookup(user: User, text: str) -> list[Finding]:
    text = text.strip()[:200]
    if not text:
        return []
    try:
        token = graph_token_for(user)
    except (NeedsReauth, TokenUnavailable) as exc:
        raise LookupUnavailable(f"this user's mailbox cannot be read now ({exc})") from None
    client = GraphClient(current_app.config["GRAPH_BASE_URL"], token, user.object_id, max_retries=2)
    try:
        page = client.get(_query_url(user, text))
    except GraphError as exc:
        raise LookupUnavailable(f"Microsoft Graph answered: {exc}") from None
    policy = effective_policy(user)
    messages = [
        m
        for m in (parse_message(raw, "") for raw in page.get("value") or [])
        if not isinstance(m, Skipped)
    ]
    keys = [m.internet_message_id for m in messages if m.internet_message_id]
    db = get_session()
    ledger = {
        e.item_key: e
        for e in db.scalars(
            select(LedgerEntry).where(
                LedgerEntry.org_id == user.org_id, LedgerEntry.item_key.in_(keys)
            )
        )
    }
    threads = set(
        db.scalars(
            select(ThreadRule.conversation_id).where(
                ThreadRule.user_id == user.id, ThreadRule.enabled.is_(True)
            )
        )
    )
    out = []
    for message in messages:
        entry = ledger.get(message.internet_message_id)
        decision = screen(message, policy)
        if entry is not None and entry.status in ("saved", "pending", "failed"):
            state = entry.status
            reason = {
                "saved": "Saved to the CRM.",
                "pending": "Waiting to be written to the CRM (queued).",
                "failed": f"Writing to the CRM failed: {entry.last_error or 'unknown'}",
            }[state]
        elif not decision.keep:
            state, reason = "skipped", reason_text(decision.reason, decision.detail)
        elif policy.auto_save == "off":
            state, reason = "not_saved", "Passed screening; auto-save is off for this user."
        elif policy.auto_save == "threads" and message.conversation_id not in threads:
            state, reason = (
                "not_saved",
                "Passed screening; only threads marked for auto-save "
                "are saved, and this thread is not marked.",
            )
        else:
            state, reason = (
                "not_saved",
                "Passed screening, but no CRM person matched its "
                "participants (or the next sync session has not run yet).",
            )
        who = message.from_ or message.sender
        sender = who.address if who is not None else ""
        out.append(
            Finding(
                subject=message.subject,
                sender=sender,
                received=message.received_at.isoformat(timespec="minutes")
                if message.received_at
                else "",
                key=message.internet_message_id,
                decision=state,
                reason=reason,
            )
        )
    return out
