"""The sandbox Graph's GET /users/{id}/messages/{id} (and /me/messages/{id}) with $select, as the
pane's server reads a recently sent item's internetMessageId and any item's sentDateTime
(https://learn.microsoft.com/graph/api/message-get; a missing item answers 404
ErrorItemNotFound). Registered on graph.py's `api` blueprint."""

from __future__ import annotations

from flask import Response

from .graph import api, graph_error, json_response, target_box
from .graph_select import select_arg, select_fields
from .graph_state import state


@api.get("/users/<user_id>/messages/<message_id>")
@api.get("/me/messages/<message_id>", defaults={"user_id": "me"})
def get_message(user_id: str, message_id: str):
    target = target_box(user_id)
    if isinstance(target, Response):
        return target
    user, box = target
    st = state()
    with st.lock:
        message = box.message(message_id)
    if message is None:
        return graph_error(
            404, "ErrorItemNotFound", "The specified object was not found in the store."
        )
    body = select_fields(message, select_arg())
    body["@odata.context"] = (
        f"https://graph.microsoft.com/v1.0/$metadata#users('{user.object_id}')/messages/$entity"
    )
    return json_response(body)
