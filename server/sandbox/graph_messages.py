"""The sandbox Graph's GET /users/{id}/messages/{id} (and /me/messages/{id}) with $select, as the
pane's server reads a recently sent item's internetMessageId and any item's sentDateTime
(https://learn.microsoft.com/graph/api/message-get; a missing item answers 404
ErrorItemNotFound). Registered on graph.py's `api` blueprint."""

from __future__ import annotations

from .directory import DirectoryUser
from .graph import graph_error, json_response, mailbox_get
from .graph_select import select_arg, select_fields
from .graph_state import Mailbox, state


@mailbox_get("/messages/<message_id>")
def get_message(user: DirectoryUser, box: Mailbox, message_id: str):
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
