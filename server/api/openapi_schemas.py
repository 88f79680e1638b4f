"""Building blocks of the pane API's OpenAPI document: the shared schemas (item, records,
suggestions, saved state, errors) and small helpers that keep each operation to a few lines."""

from __future__ import annotations

from typing import Any


def ref(name: str) -> dict[str, str]:
    return {"$ref": f"#/components/schemas/{name}"}


def json_body(schema: dict[str, Any]) -> dict[str, Any]:
    return {"content": {"application/json": {"schema": schema}}}


ERRORS = {
    "400": {
        "description": "Bad input (missing field, wrong type, malformed address, ...)",
        **json_body(ref("Error")),
    },
    "401": {"description": "Not signed in, or the session ended", **json_body(ref("Error"))},
    "404": {"description": "Unknown record (or another organisation's)", **json_body(ref("Error"))},
    "413": {"description": "Body or a field is too large", **json_body(ref("Error"))},
}


def op(
    summary: str,
    ok: dict[str, Any],
    body: dict[str, Any] | None = None,
    status: str = "200",
    extra: dict[str, Any] | None = None,
) -> dict[str, Any]:
    operation: dict[str, Any] = {
        "summary": summary,
        "security": [{"bearer": []}],
        "responses": {status: {"description": "OK", **json_body(ok)}, **ERRORS, **(extra or {})},
    }
    if body is not None:
        operation["requestBody"] = {"required": True, **json_body(body)}
    return operation


def obj(required: list[str], **props: Any) -> dict[str, Any]:
    return {"type": "object", "required": required, "properties": props}


STR = {"type": "string"}
BOOL = {"type": "boolean"}

SCHEMAS: dict[str, Any] = {
    "Error": obj(["error", "message"], error=STR, message=STR, details={"type": "object"}),
    "Address": obj(
        ["address"],
        address={"type": "string", "maxLength": 320},
        name={"type": "string", "maxLength": 500},
    ),
    "Item": {
        **obj(
            ["from"],
            subject={"type": "string", "maxLength": 2000},
            **{"from": ref("Address")},
            to={"type": "array", "items": ref("Address"), "maxItems": 1000},
            cc={"type": "array", "items": ref("Address"), "maxItems": 1000},
            date={
                "type": "string",
                "format": "date-time",
                "description": "When it was sent, if the client knows; else read from Graph",
            },
            created={
                "type": "string",
                "format": "date-time",
                "description": "Office's dateTimeCreated (a fallback for the sent date)",
            },
            internet_message_id={"type": ["string", "null"], "maxLength": 1000},
            conversation_id={"type": "string", "maxLength": 512},
            item_id={"type": "string", "description": "REST id (convertToRestId)"},
            body={
                "type": "string",
                "maxLength": 200000,
                "description": "Body as text; the server strips HTML and truncates",
            },
        ),
        "description": "The email open in Outlook. Without internet_message_id the server "
        "reads it (and the sent date) from Graph with item_id; failing that, the key is a "
        "fingerprint of sender, recipients, subject and minute.",
    },
    "RecordRef": obj(
        ["type", "id"],
        type={"enum": ["contact", "lead", "account", "opportunity"]},
        id={"type": "string", "maxLength": 64},
    ),
    "Record": obj(
        ["ref", "name"],
        ref=ref("RecordRef"),
        name=STR,
        title=STR,
        company=STR,
        account_id={"type": ["string", "null"]},
        account_name=STR,
        default=BOOL,
        reason=STR,
        reason_text=STR,
        stage=STR,
        is_closed=BOOL,
    ),
    "PersonCard": obj(
        ["ref", "name", "recent", "open", "closed", "url"],
        ref=ref("RecordRef"),
        name=STR,
        owner=STR,
        owned_by_you=BOOL,
        account={"type": ["object", "null"]},
        last_interaction={"type": ["string", "null"]},
        recent={
            "type": "array",
            "items": obj(["kind", "subject"], id=STR, kind=STR, subject=STR, at=STR),
        },
        open={"type": "array", "items": ref("Record")},
        closed={"type": "array", "items": ref("Record")},
        url=STR,
    ),
    "Participant": obj(
        ["address", "class"],
        address=STR,
        name=STR,
        role={"enum": ["from", "to", "cc"]},
        domain=STR,
        **{
            "class": {
                "enum": [
                    "matched",
                    "not_in_crm",
                    "personal",
                    "internal",
                    "blocked",
                    "role",
                    "tool",
                    "invalid",
                ]
            }
        },
        candidates={"type": "array", "items": ref("Record")},
        reason_text=STR,
        prefill=obj([], name=STR, email=STR, company=STR),
    ),
    "SavedState": obj(
        ["status"],
        status={"enum": ["saved", "pending", "failed", "removed", None]},
        source=STR,
        activity_id={"type": ["string", "null"]},
        links={"type": "array", "items": obj(["type", "id"], type=STR, id=STR, name=STR)},
    ),
    "Suggestions": obj(
        ["item", "participants", "accounts", "opportunities", "saved", "thread", "status"],
        item=obj(["key"], key=STR, subject=STR, conversation_id=STR),
        participants={"type": "array", "items": ref("Participant")},
        accounts={"type": "array", "items": ref("Record")},
        opportunities={"type": "array", "items": ref("Record")},
        saved=ref("SavedState"),
        thread=obj(
            ["auto_save"],
            conversation_id=STR,
            auto_save=BOOL,
            links={"type": "array", "items": ref("RecordRef")},
        ),
        why={"type": ["object", "null"], "properties": {"code": STR, "message": STR}},
        status=obj(
            ["user", "crm", "sync"],
            user={"type": "object"},
            crm={"type": "object"},
            sync={"type": "object"},
        ),
    ),
    "SaveResult": obj(
        ["status", "key"],
        status={"enum": ["saved", "already_saved", "pending"]},
        key=STR,
        activity_id=STR,
    ),
    "PersonInput": obj(
        ["name", "email"],
        name={"type": "string", "maxLength": 255},
        email={"type": "string", "format": "email"},
        company={"type": "string", "maxLength": 255},
        title={"type": "string", "maxLength": 255},
        account_id={"type": "string"},
    ),
}
