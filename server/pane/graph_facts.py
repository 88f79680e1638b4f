"""What Office.js does not tell the pane, read from Microsoft Graph with the item's REST id:

- a recently sent item's internetMessageId: "In the Sent Items folder, the internetMessageId may
  not be available yet on recently sent items … For Exchange Online, use Microsoft Graph to get
  the internetMessageId property" (docs-ref outlook/office.messageread.yml). Without it the pane
  would key the email by a fingerprint the sync (which keys by internetMessageId) never meets;
- the sent date: read mode has only dateTimeCreated (when the item was created in this mailbox),
  while the sync dates an email by Graph's sentDateTime
  (https://learn.microsoft.com/graph/api/resources/message).

One GET /users/{id}/messages/{id}?$select=internetMessageId,sentDateTime per item, cached a day in
Redis; when Graph cannot answer, the item keeps what the pane sent (the fingerprint and the
creation time), as before.
"""

from __future__ import annotations

import hashlib
import json
import logging
from datetime import datetime
from urllib.parse import quote

from flask import current_app

from ..auth.tokens import NeedsReauth, TokenUnavailable, graph_token_for
from ..mail.graph import GraphClient
from ..mail.graph_errors import GraphError
from ..mail.graph_parse import parse_datetime
from ..models.tenancy import User
from ..queues import get_redis
from .items import PaneItem, with_graph_facts

log = logging.getLogger(__name__)
CACHE_SECONDS = 24 * 3600
_CACHE_KEY = "courier:pane:graph-facts:{}:{}"
FIELDS = "internetMessageId,sentDateTime"
INTERACTIVE_TIMEOUT_SECONDS = 5.0


def complete_item(user: User, item: PaneItem, *, need_sent_date: bool) -> PaneItem:
    """`item` with Graph's internetMessageId and sentDateTime when the pane lacks the first, or
    (need_sent_date: a save) the second. Unchanged when Graph cannot tell."""
    has_id = bool(item.message.internet_message_id)
    if not item.item_id or (has_id and (item.sent_at is not None or not need_sent_date)):
        return item
    facts = _facts(user, item.item_id)
    if facts is None:
        return item
    message_id, sent_at = facts
    return with_graph_facts(item, message_id, sent_at)


def _facts(user: User, item_id: str) -> tuple[str, datetime | None] | None:
    digest = hashlib.sha256(item_id.encode()).hexdigest()[:40]
    key = _CACHE_KEY.format(user.id, digest)
    redis = get_redis()
    cached = redis.get(key)
    if cached is not None:
        data = json.loads(cached)
        return data["id"], parse_datetime(data["sent"])
    found = _read(user, item_id)
    if found is None:
        return None
    message_id, sent = found
    if message_id:
        redis.set(key, json.dumps({"id": message_id, "sent": sent}), ex=CACHE_SECONDS)
    return message_id, parse_datetime(sent)


def _read(user: User, item_id: str) -> tuple[str, str] | None:
    cfg = current_app.config
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
            f"{client.user_path()}/messages/{quote(item_id, safe='')}?$select={FIELDS}"
        )
    except (NeedsReauth, TokenUnavailable, GraphError) as exc:
        log.info("Graph could not complete a pane item: %s", type(exc).__name__)
        return None
    message_id = data.get("internetMessageId")
    sent = data.get("sentDateTime")
    return (
        message_id if isinstance(message_id, str) else "",
        sent if isinstance(sent, str) else "",
    )
