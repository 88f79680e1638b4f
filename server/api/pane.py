"""The task pane's JSON API (blueprint "api"): thin views — parse, call a service in
server/pane, shape the answer. Described in /api/openapi.json (server/api/openapi.py)."""

from __future__ import annotations

from typing import Any

from flask import Blueprint, g, jsonify, request

from ..auth.decorators import api_login_required
from ..errors import ApiError
from ..pane import cards, meetings, records, removal, saves, suggestions, threads
from ..pane.graph_facts import complete_item
from ..pane.inputs import email_address, field, record_ref, record_refs, require_object, text
from ..pane.items import PaneItem, parse_item
from .openapi import openapi_document

bp = Blueprint("api", __name__, url_prefix="/api")
MAX_NAME = 255


def _body() -> dict[str, Any]:
    if not request.is_json:
        raise ApiError(415, "unsupported_media_type", "Send a JSON body (application/json).")
    data = request.get_json(silent=True)
    if data is None:
        raise ApiError(400, "invalid_json", "The body is not valid JSON.")
    return dict(require_object(data))


def _item(body: dict[str, Any], *, saving: bool = False) -> PaneItem:
    """The pane's item, completed from Graph where Office.js falls short (graph_facts.py).
    Only a save keeps the email's text."""
    item = parse_item(field(body, "item", dict), with_body=saving)
    return complete_item(g.user, item, need_sent_date=saving)


@bp.get("/openapi.json")
def openapi():
    return jsonify(openapi_document())


@bp.get("/ping")
@api_login_required
def ping():
    """Authenticated no-op: the baseline the suggestions benchmark compares with."""
    return jsonify({"ok": True})


@bp.post("/suggestions")
@api_login_required
def suggestions_view():
    return jsonify(suggestions.suggestions(g.user, _item(_body())))


@bp.post("/cards")
@api_login_required
def cards_view():
    """A card per matched person; the pane asks after drawing the suggestions."""
    refs = record_refs(field(_body(), "people", list), "people")
    return jsonify(cards.person_cards(g.user, refs))


@bp.post("/saves")
@api_login_required
def save_view():
    body = _body()
    item = _item(body, saving=True)
    refs = record_refs(field(body, "links", list))
    auto_save = field(body, "auto_save_thread", bool, required=False, default=False)
    result = saves.save_item(g.user, item, refs, auto_save)
    return jsonify(result), 201 if result["status"] == "saved" else 200


@bp.post("/saves/state")
@api_login_required
def saved_state_view():
    return jsonify(saves.saved_state(g.user, _item(_body())))


@bp.post("/saves/unlink")
@api_login_required
def unlink_view():
    """Unlink records from the saved email, in the CRM itself."""
    body = _body()
    return jsonify(removal.unlink(g.user, _item(body), record_refs(field(body, "links", list))))


@bp.post("/saves/remove")
@api_login_required
def remove_view():
    """Remove the saved email from the CRM; nothing saves it again but the user's own save."""
    return jsonify(removal.remove(g.user, _item(_body())))


@bp.post("/meetings/state")
@api_login_required
def meeting_state_view():
    """A meeting of the user's calendar (by event id): saved, removed, or not saved."""
    return jsonify(meetings.meeting_state(g.user, _event_id(_body())))


@bp.post("/meetings/unlink")
@api_login_required
def meeting_unlink_view():
    """Unlink records from a saved meeting, in the CRM itself."""
    body = _body()
    refs = record_refs(field(body, "links", list))
    return jsonify(meetings.unlink_meeting(g.user, _event_id(body), refs))


@bp.post("/meetings/remove")
@api_login_required
def meeting_remove_view():
    """Remove a saved meeting from the CRM; the sync never saves it again."""
    return jsonify(meetings.remove_meeting(g.user, _event_id(_body())))


def _event_id(body: dict[str, Any]) -> str:
    return text(body, "event_id", max_length=512)


@bp.put("/threads")
@api_login_required
def thread_view():
    body = _body()
    conversation = text(body, "conversation_id", max_length=512)
    enabled = field(body, "enabled", bool)
    refs = record_refs(body.get("links", []), allow_empty=True)
    return jsonify(threads.set_thread_rule(g.user, conversation, refs, enabled))


@bp.post("/blocklist")
@api_login_required
def blocklist_view():
    from ..policy import add_to_blocklist

    entry = text(_body(), "entry", max_length=320)
    return jsonify(add_to_blocklist(g.user, entry)), 201


@bp.post("/choices")
@api_login_required
def choice_view():
    body = _body()
    address = email_address(body, "address")
    ref = record_ref(field(body, "record", dict))
    records.remember_pick(g.user, address, ref)
    return jsonify({"address": address, "record": ref.as_dict()}), 201


def _person_input(kind: str) -> dict[str, Any]:
    body = _body()
    name = " ".join(text(body, "name", max_length=MAX_NAME).split())
    email = email_address(body, "email")
    company = text(body, "company", max_length=MAX_NAME, required=False)
    title = text(body, "title", max_length=MAX_NAME, required=False)
    account_id = None
    if kind == "contact" and body.get("account_id") is not None:
        account_id = record_ref({"type": "account", "id": field(body, "account_id", (str, int))}).id
    return {
        "name": name,
        "email": email,
        "company": company.strip(),
        "title": title.strip(),
        "account_id": account_id,
    }


@bp.post("/contacts")
@api_login_required
def create_contact_view():
    return jsonify(records.create_person(g.user, "contact", **_person_input("contact"))), 201


@bp.post("/leads")
@api_login_required
def create_lead_view():
    data = _person_input("lead")
    data.pop("account_id")
    return jsonify(records.create_person(g.user, "lead", **data)), 201


@bp.get("/search")
@api_login_required
def search_view():
    query = request.args.get("q", "").strip()
    if len(query) < 2:
        raise ApiError(400, "query_too_short", "Type at least 2 characters.", field="q")
    if len(query) > records.MAX_SEARCH:
        raise ApiError(400, "too_long", f"q is longer than {records.MAX_SEARCH}", field="q")
    return jsonify({"query": query, "results": records.search_records(g.user, query)})
