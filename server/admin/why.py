""" "Why not saved?": search one user's mailbox (subject, address or internetMessageId) through
Microsoft Graph with that user's own delegated token — the one background sync reads with —
and say for each message what Courier decided and why: the ledger's state, else the pane's own
answer (screening, then server/pane/standing.py over the same match → pick → opportunity rule and
the sync's one verdict), so the admin, the user's pane and the sync never disagree.

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
from ..crm import crm_for
from ..crm.base import CRMError
from ..db import get_session
from ..mail.graph import MESSAGE_FIELDS, GraphClient
from ..mail.graph_errors import GraphError
from ..mail.graph_parse import Skipped, parse_message
from ..models.ledger import LedgerEntry, ThreadRule
from ..models.tenancy import User
from ..pane.standing import where_it_stands
from ..pane.status import crm_connection
from ..picks import gather
from ..policy import effective_policy, remembered_choices
from ..rules import autosave, picking
from ..rules.explain import reason_text
from ..rules.screening import screen
from ..sync.decide import key_of_message

MAX_RESULTS = 25


class LookupUnavailable(Exception):
    """The user's mailbox cannot be read now (no token, Graph failing)."""


@dataclass(frozen=True)
class Finding:
    subject: str
    sender: str
    received: str
    key: str
    decision: str  # saved | pending | failed | removed | skipped | will_save | not_saved
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
    decisions = [screen(m, policy) for m in messages]
    keys = [key_of_message(m) for m in messages]
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
    undecided = [
        d
        for k, d in zip(keys, decisions, strict=True)
        if d.keep and _settled(ledger.get(k)) is None
    ]
    picker = _Picker(user, policy, undecided)
    out = []
    for message, decision, key in zip(messages, decisions, keys, strict=True):
        settled = _settled(ledger.get(key))
        if settled is not None:
            state, reason = settled
        elif not decision.keep:
            state, reason = "skipped", reason_text(decision.reason, decision.detail)
        else:
            state, reason = picker.standing(message, decision, message.conversation_id in threads)
        who = message.from_ or message.sender
        sender = who.address if who is not None else ""
        out.append(
            Finding(
                subject=message.subject,
                sender=sender,
                received=message.received_at.isoformat(timespec="minutes")
                if message.received_at
                else "",
                key=key,
                decision=state,
                reason=reason,
            )
        )
    return out


def _settled(entry: LedgerEntry | None) -> tuple[str, str] | None:
    """What the ledger already says, whatever screening would say now."""
    if entry is None:
        return None
    return {
        "saved": ("saved", "Saved to the CRM."),
        "pending": ("pending", "Waiting to be written to the CRM (queued)."),
        "failed": ("failed", f"Writing to the CRM failed: {entry.last_error or 'unknown'}"),
        "removed": (
            "removed",
            "The user removed it from the CRM: the sync never saves it again.",
        ),
    }.get(entry.status)


class _Picker:
    """The pane's own answer for an email that passed screening (pane/standing.py: the sync's
    verdict over the same match → pick → opportunity rule), with the CRM asked once for the
    people of every such email on the page, as a sync page does."""

    def __init__(self, user: User, policy, decisions: list) -> None:
        self.user, self.policy = user, policy
        self.problem = ""
        self.lookups = picking.Lookups()
        self.owner_id = None
        addresses = sorted({a for d in decisions for a in d.linkable_addresses})
        if not addresses:
            return
        if crm_connection(user, current_app.config["CRM_ADAPTER"])["connect_required"]:
            self.problem = "this user's CRM is not connected, so no person can be matched"
            return
        try:
            crm = crm_for(user)
            self.owner_id = crm.owner_id_for(user)
            self.lookups = gather(
                crm,
                addresses,
                policy=policy,
                owner_id=self.owner_id,
                remembered=lambda wanted: remembered_choices(user, wanted),
            )
        except CRMError as exc:
            get_session().rollback()
            self.problem = f"the CRM could not be asked ({exc})"

    def standing(self, message, decision, thread_rule: bool) -> tuple[str, str]:
        if self.problem:
            return "not_saved", f"Passed screening; {self.problem}."
        chosen = picking.pick(
            decision.linkable_addresses, self.lookups, policy=self.policy, owner_id=self.owner_id
        )
        answer = where_it_stands(
            decision,
            chosen.matches,
            None,
            self.policy,
            thread_rule,
            outcome=chosen.outcome,
            received_at=message.received_at or message.sent_at,
            creates_people=bool(autosave.to_create(message, decision, chosen.matches, self.policy)),
        )
        if answer is None:  # only for a saved status, which _settled has answered
            return "pending", "Waiting to be written to the CRM."
        state = "will_save" if answer["kind"] == "will_save" else "not_saved"
        return state, " ".join(t for t in (answer["message"], answer.get("hint", "")) if t)
