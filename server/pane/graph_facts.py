"""What Office.js does not tell the pane, read from Microsoft Graph with the item's REST id:

- a recently sent item's internetMessageId: "In the Sent Items folder, the internetMessageId may
  not be available yet on recently sent items … For Exchange Online, use Microsoft Graph to get
  the internetMessageId property" (docs-ref outlook/office.messageread.yml). Without it the pane
  would key the email by a fingerprint the sync (which keys by internetMessageId) never meets;
- the sent date: read mode has only dateTimeCreated (when the item was created in this mailbox),
  while the sync dates an email by Graph's sentDateTime
  (https://learn.microsoft.com/graph/api/resources/message).

- everyone in an email with many recipients: Outlook on the web and new Outlook for Windows
  give an add-in at most 20 of To (and of Cc) "in collapsed view" (docs-ref
  outlook/office.messageread.yml, `to`/`cc`; shared/reference/research/addin-platform.md).
  A list at that limit may be cut short, so toRecipients and ccRecipients are read too and
  replace the pane's, and suggestions cover every participant.

One GET /users/{id}/messages/{id}?$select=internetMessageId,sentDateTime(,toRecipients,
ccRecipients) per item, cached a day in Redis; when Graph cannot answer, the item keeps what
the pane sent (the fingerprint, the creation time, the recipients it had), as before.
"""

from __future__ import annotations

import hashlib
import json
import logging
from urllib.parse import quote

from flask import current_app

from ..auth.tokens import NeedsReauth, TokenUnavailable, graph_token_for
from ..mail.base import Participant
from ..mail.graph import GraphClient
from ..mail.graph_errors import GraphError
from ..mail.graph_parse import parse_datetime, parse_recipient
from ..models.tenancy import User
from ..queues import get_redis
from .items import MAX_RECIPIENTS, PaneItem, with_graph_facts, with_recipients

log = logging.getLogger(__name__)
CACHE_SECONDS = 24 * 3600
_CACHE_KEY = "courier:pane:graph-facts:{}:{}"
FIELDS = "internetMessageId,sentDateTime"
OFFICE_RECIPIENT_LIMIT = 20  # per list, Outlook on the web and new Outlook for Windows
INTERACTIVE_TIMEOUT_SECONDS = 5.0


def complete_item(user: User, item: PaneItem, *, need_sent_date: bool) -> PaneItem:
    """`item` with Graph's internetMessageId and sentDateTime when the pane lacks the first, or
    (need_sent_date: a save) the second, and with Graph's recipients when Office.js may have
    cut them at its limit. Unchanged when Graph cannot tell."""
    has_id = bool(item.message.internet_message_id)
    cut = recipients_cut(item)
    if not item.item_id or (
        has_id and (item.sent_at is not None or not need_sent_date) and not cut
    ):
        return item
    facts = _facts(user, item.item_id, cut)
    if facts is None:
        return item
    if cut and "to" in facts:
        item = with_recipients(item, _people(facts["to"]), _people(facts["cc"]))
    return with_graph_facts(item, facts["id"], parse_datetime(facts["sent"]))


def recipients_cut(item: PaneItem) -> bool:
    """Whether Office.js may have given fewer recipients than the email has."""
    message = item.message
    return max(len(message.to), len(message.cc)) >= OFFICE_RECIPIENT_LIMIT


def _people(raw: list) -> list[Participant]:
    found = (parse_recipient(r) for r in raw[:MAX_RECIPIENTS])
    return [p for p in found if p is not None]


def _facts(user: User, item_id: str, recipients: bool) -> dict | None:
    digest = hashlib.sha256(item_id.encode()).hexdigest()[:40]
    key = _CACHE_KEY.format(user.id, digest) + (":r" if recipients else "")
    redis = get_redis()
    cached = redis.get(key)
    if cached is not None:
        return json.loads(cached)
    found = _read(user, item_id, recipients)
    if found is None:
        return None
    if found["id"]:
        redis.set(key, json.dumps(found), ex=CACHE_SECONDS)
    return found


def _read(user: User, item_id: str, recipients: bool) -> dict | None:
    cfg = current_app.config
    fields = FIELDS + (",toRecipients,ccRecipients" if recipients else "")
    try:
        client = GraphClient(
            cfg["GRAPH_BASE_URL"],
            graph_token_for(user),
            user.object_id,
            # The user is waiting: a short timeout, one retry, no long backoff.
            timeout=min(float(cfg["HTTP_TIMEOUT_SECONDS"]), INTERACTIVE_TIMEOUT_SECONDS),
            max_retries=1,
            max_wait=2.0,
        )
        data = client.get(
            f"{client.user_path()}/messages/{quote(item_id, safe='')}?$select={fields}"
        )
    except (NeedsReauth, TokenUnavailable, GraphError) as exc:
        log.info("Graph could not complete a pane item: %s", type(exc).__name__)
        return None
    message_id = data.get("internetMessageId")
    sent = data.get("sentDateTime")
    out = {
        "id": message_id if isinstance(message_id, str) else "",
        "sent": sent if isinstance(sent, str) else "",
    }
    if recipients and isinstance(data.get("toRecipients"), list):
        out["to"] = data["toRecipients"]
        cc = data.get("ccRecipients")
        out["cc"] = cc if isinstance(cc, list) else []
    return out
