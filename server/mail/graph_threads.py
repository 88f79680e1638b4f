"""The emails of one conversation already in a mailbox, read through Microsoft Graph: what
"auto-save this thread" saves besides the later ones (server/sync/threads.py) — and, for the
pane, everyone in an email whose recipients Office.js cut short (server/pane/graph_facts.py).

GET /users/{id}/messages?$filter=conversationId eq '<id>' and receivedDateTime ge <since>
(https://learn.microsoft.com/graph/api/user-list-messages; conversationId is a filterable
message property, https://learn.microsoft.com/graph/api/resources/message, and the SDKs' own
example is `.Filter($"conversationId eq '{conversationId}'")`,
microsoftgraph/msgraph-sdk-dotnet#757). Documented limits kept here:
- /messages lists the whole mailbox, "including the Deleted Items and Clutter folders": the
  caller keeps only the folders the sync reads;
- no $orderby: with $filter it must name the filtered properties in the same order, else
  400 InefficientFilter ("The restriction or sort order is too complex for this operation");
- a page holds $top messages (1..1000, default 10); the rest come by @odata.nextLink, applied
  as given ("Do not try to extract the $skip value");
- an OData string literal doubles its single quotes.
"""

from __future__ import annotations

from datetime import UTC, datetime
from urllib.parse import quote, urlencode

from .graph_parse import is_partial_update

# A conversation longer than this is read up to here (newest last is not guaranteed: Graph
# gives no order without $orderby); a session must stay bounded whatever a thread holds.
MAX_THREAD_MESSAGES = 500
PAGE_TOP = 100


def odata_string(value: str) -> str:
    return "'" + value.replace("'", "''") + "'"


def conversation_url(
    user_path: str, conversation_id: str, since: datetime | None, select: str
) -> str:
    clause = f"conversationId eq {odata_string(conversation_id)}"
    if since is not None:
        clause += " and receivedDateTime ge " + since.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
    params = {"$filter": clause, "$select": select, "$top": str(PAGE_TOP)}
    return f"{user_path}/messages?" + urlencode(params, quote_via=quote)


def conversation_messages(
    client, conversation_id: str, since: datetime | None, select: str, prefer=()
) -> list[dict]:
    """The raw messages of the conversation received since `since`, every page, at most
    MAX_THREAD_MESSAGES. `client` is a GraphClient (its retries, limits and token)."""
    url = conversation_url(client.user_path(), conversation_id, since, select)
    out: list[dict] = []
    while url and len(out) < MAX_THREAD_MESSAGES:
        data = client.get(url, prefer=prefer)
        for raw in data.get("value") or []:
            if isinstance(raw, dict) and not is_partial_update(raw):
                out.append(raw)
        url = data.get("@odata.nextLink") or ""
    return out[:MAX_THREAD_MESSAGES]
