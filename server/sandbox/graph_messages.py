"""The sandbox Graph's GET /users/{id}/messages/{id} (and /me/messages/{id}) with $select, as the
pane's server reads a recently sent item's internetMessageId and any item's sentDateTime
(https://learn.microsoft.com/graph/api/message-get; a missing item answers 404
ErrorItemNotFound). Registered on graph.py's `api` blueprint."""

from __future__ import annotations

import re

from flask import Response, request

from .graph import api, graph_error, json_response, target_user
from .graph_state import state

_GENERATED_ID = re.compile(r"^AAMkM-[^-]{6}-(\d{7})$")


@api.get("/users/<user_id>/messages/<message_id>")
@api.get("/me/messages/<message_id>", defaults={"user_id": "me"})
def get_message(user_id: str, message_id: str):
    user = target_user(user_id)
    if isinstance(user, Response):
        return user
    st = state()
    box = st.mailbox(user)
    with st.lock:
        message = next((m for _, m, _ in box.added if m.get("id") == message_id), None)
        match = _GENERATED_ID.match(message_id)
        if message is None and match and int(match.group(1)) < box.generated.count:
            index = int(match.group(1))
            if box.generated.message_id(index) == message_id:
                message = box.generated.render(index)[0]
    if message is None:
        return graph_error(
            404, "ErrorItemNotFound", "The specified object was not found in the store."
        )
    fields = [f.strip() for f in request.args.get("$select", "").split(",") if f.strip()]
    body = {k: v for k, v in message.items() if not fields or k == "id" or k in fields}
    if not fields:
        body.pop("internetMessageHeaders", None)  # only on $select, as in Graph
    body["@odata.context"] = (
        f"https://graph.microsoft.com/v1.0/$metadata#users('{user.object_id}')/messages/$entity"
    )
    return json_response(body)
