"""Unlink and "remove from CRM" for saved meetings (calendar items the sync saved), through the
API: the pane opens on messages only (manifest.xml: ItemIs Message, Read), so there is no
appointment pane to put the buttons in yet.

A meeting is named by the user's own calendar event id (Graph's event id; Office.js gives it
for an open appointment as item.itemId, converted to a REST id). The sync remembers which
meeting each of the user's events is (models/sync.CalendarEventKey): only a meeting that is in
the user's calendar can be changed by them, and one the sync has not seen is "not saved"."""

from __future__ import annotations

from typing import Any

from sqlalchemy import select

from ..crm import crm_for
from ..crm.base import RecordRef
from ..db import get_session
from ..errors import ApiError
from ..models.sync import CalendarEventKey
from ..models.tenancy import User
from .removal import remove_saved, unlink_saved
from .state import ledger_entry, saved_json


def meeting_key(user: User, event_id: str) -> str:
    key = get_session().scalar(
        select(CalendarEventKey.item_key).where(
            CalendarEventKey.user_id == user.id, CalendarEventKey.event_id == event_id
        )
    )
    if key is None:
        raise ApiError(
            404, "unknown_meeting", "No saved meeting has this event id in your calendar."
        )
    return key


def meeting_state(user: User, event_id: str) -> dict[str, Any]:
    key = meeting_key(user, event_id)
    crm = crm_for(user)
    return {"key": key, **saved_json(ledger_entry(user, crm, key), crm)}


def unlink_meeting(user: User, event_id: str, refs: list[RecordRef]) -> dict[str, Any]:
    key = meeting_key(user, event_id)
    return {"key": key, **unlink_saved(user, key, "meeting", refs)}


def remove_meeting(user: User, event_id: str) -> dict[str, Any]:
    key = meeting_key(user, event_id)
    return {"key": key, **remove_saved(user, key, "meeting")}
