"""The OpenAPI 3.1 description of the pane's JSON API (served at /api/openapi.json).

A test checks that every /api route of the "api" blueprint is described here and that each
described operation exists, so the document cannot drift from the code."""

from __future__ import annotations

from typing import Any

from flask import current_app


def _ref(name: str) -> dict[str, str]:
    return {"$ref": f"#/components/schemas/{name}"}


def _json(schema: dict[str, Any]) -> dict[str, Any]:
    return {"content": {"application/json": {"schema": schema}}}


ERRORS = {
    "400": {
        "description": "Bad input (missing field, wrong type, malformed address, ...)",
        **_json(_ref("Error")),
    },
    "401": {"description": "Not signed in, or the session ended", **_json(_ref("Error"))},
    "404": {"description": "Unknown record (or another organisation's)", **_json(_ref("Error"))},
    "413": {"description": "Body or a field is too large", **_json(_ref("Error"))},
}


def _op(
    summary: str,
    ok: dict[str, Any],
    body: dict[str, Any] | None = None,
    status: str = "200",
    extra: dict[str, Any] | None = None,
) -> dict[str, Any]:
    op: dict[str, Any] = {
        "summary": summary,
        "security": [{"bearer": []}],
        "responses": {status: {"description": "OK", **_json(ok)}, **ERRORS, **(extra or {})},
    }
    if body is not None:
        op["requestBody"] = {"required": True, **_json(body)}
    return op


def _obj(required: list[str], **props: Any) -> dict[str, Any]:
    return {"type": "object", "required": required, "properties": props}


STR = {"type": "string"}
BOOL = {"type": "boolean"}

SCHEMAS: dict[str, Any] = {
    "Error": _obj(["error", "message"], error=STR, message=STR, details={"type": "object"}),
    "Address": _obj(
        ["address"],
        address={"type": "string", "maxLength": 320},
        name={"type": "string", "maxLength": 500},
    ),
    "Item": {
        **_obj(
            ["from"],
            subject={"type": "string", "maxLength": 2000},
            **{"from": _ref("Address")},
            to={"type": "array", "items": _ref("Address"), "maxItems": 1000},
            cc={"type": "array", "items": _ref("Address"), "maxItems": 1000},
            date={"type": "string", "format": "date-time"},
            internet_message_id={"type": ["string", "null"], "maxLength": 1000},
            conversation_id={"type": "string", "maxLength": 512},
            item_id={"type": "string", "description": "REST id (convertToRestId)"},
            body={
                "type": "string",
                "maxLength": 200000,
                "description": "Body as text; the server strips HTML and truncates",
            },
        ),
        "description": "The email open in Outlook. Without internet_message_id the key is a "
        "fingerprint of sender, recipients, subject and minute.",
    },
    "RecordRef": _obj(
        ["type", "id"],
        type={"enum": ["contact", "lead", "account", "opportunity"]},
        id={"type": "string", "maxLength": 64},
    ),
    "Record": _obj(
        ["ref", "name"],
        ref=_ref("RecordRef"),
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
    "Participant": _obj(
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
        candidates={"type": "array", "items": _ref("Record")},
        reason_text=STR,
        prefill=_obj([], name=STR, email=STR, company=STR),
    ),
    "SavedState": _obj(
        ["status"],
        status={"enum": ["saved", "pending", "failed", None]},
        source=STR,
        activity_id={"type": ["string", "null"]},
        links={"type": "array", "items": _obj(["type", "id"], type=STR, id=STR, name=STR)},
    ),
    "Suggestions": _obj(
        ["item", "participants", "accounts", "opportunities", "saved", "thread", "status"],
        item=_obj(["key"], key=STR, subject=STR, conversation_id=STR),
        participants={"type": "array", "items": _ref("Participant")},
        accounts={"type": "array", "items": _ref("Record")},
        opportunities={"type": "array", "items": _ref("Record")},
        saved=_ref("SavedState"),
        thread=_obj(
            ["auto_save"],
            conversation_id=STR,
            auto_save=BOOL,
            links={"type": "array", "items": _ref("RecordRef")},
        ),
        why={"type": ["object", "null"], "properties": {"code": STR, "message": STR}},
        status=_obj(
            ["user", "crm", "sync"],
            user={"type": "object"},
            crm={"type": "object"},
            sync={"type": "object"},
        ),
    ),
    "SaveResult": _obj(
        ["status", "key"],
        status={"enum": ["saved", "already_saved", "pending"]},
        key=STR,
        activity_id=STR,
    ),
    "PersonInput": _obj(
        ["name", "email"],
        name={"type": "string", "maxLength": 255},
        email={"type": "string", "format": "email"},
        company={"type": "string", "maxLength": 255},
        title={"type": "string", "maxLength": 255},
        account_id={"type": "string"},
    ),
}

PATHS: dict[str, Any] = {
    "/api/ping": {"get": _op("Authenticated no-op", _obj(["ok"], ok=BOOL))},
    "/api/suggestions": {
        "post": _op(
            "Participants with CRM records, accounts, opportunities, saved and thread state",
            _ref("Suggestions"),
            _obj(["item"], item=_ref("Item")),
        )
    },
    "/api/saves": {
        "post": _op(
            "Save the email to the chosen records (idempotent; queued when the CRM is down)",
            _ref("SaveResult"),
            _obj(
                ["item", "links"],
                item=_ref("Item"),
                links={"type": "array", "items": _ref("RecordRef"), "minItems": 1, "maxItems": 50},
                auto_save_thread=BOOL,
            ),
            status="201",
            extra={
                "200": {
                    "description": "Already saved, or queued (pending)",
                    **_json(_ref("SaveResult")),
                },
                "409": {
                    "description": "A chosen person is on a do-not-sync list",
                    **_json(_ref("Error")),
                },
            },
        )
    },
    "/api/saves/state": {
        "post": _op(
            "Saved state of an email (poll while pending)",
            _ref("SavedState"),
            _obj(["item"], item=_ref("Item")),
        )
    },
    "/api/threads": {
        "put": _op(
            "Turn auto-save of a conversation on or off",
            _obj(
                ["conversation_id", "auto_save"],
                conversation_id=STR,
                auto_save=BOOL,
                links={"type": "array", "items": _ref("RecordRef")},
            ),
            _obj(
                ["conversation_id", "enabled"],
                conversation_id=STR,
                enabled=BOOL,
                links={"type": "array", "items": _ref("RecordRef")},
            ),
        )
    },
    "/api/blocklist": {
        "post": _op(
            "Do not sync an address or a whole domain (the user's blocklist)",
            _obj(
                ["list", "entry"],
                list={"enum": ["blocked_addresses", "blocked_domains"]},
                entry=STR,
            ),
            _obj(["entry"], entry={"type": "string", "maxLength": 320}),
            status="201",
        )
    },
    "/api/choices": {
        "post": _op(
            "Remember the record picked for an address",
            _obj(["address", "record"], address=STR, record=_ref("RecordRef")),
            _obj(
                ["address", "record"],
                address={"type": "string", "format": "email"},
                record=_ref("RecordRef"),
            ),
            status="201",
        )
    },
    "/api/contacts": {
        "post": _op(
            "Create a contact (prefilled from the email)",
            _ref("Record"),
            _ref("PersonInput"),
            status="201",
        )
    },
    "/api/leads": {
        "post": _op(
            "Create a lead (prefilled from the email)",
            _ref("Record"),
            _ref("PersonInput"),
            status="201",
        )
    },
    "/api/search": {
        "get": {
            **_op(
                "Search CRM records by name, email or company",
                _obj(
                    ["query", "results"],
                    query=STR,
                    results={
                        "type": "array",
                        "items": _obj(
                            ["ref", "name"], ref=_ref("RecordRef"), name=STR, subtitle=STR
                        ),
                    },
                ),
            ),
            "parameters": [
                {
                    "name": "q",
                    "in": "query",
                    "required": True,
                    "schema": {"type": "string", "minLength": 2, "maxLength": 100},
                }
            ],
        }
    },
}


def openapi_document() -> dict[str, Any]:
    return {
        "openapi": "3.1.0",
        "info": {
            "title": "Courier pane API",
            "version": current_app.config["ADDIN_VERSION"],
            "description": "JSON API of the Courier Outlook task pane. Errors are "
            '{"error": code, "message": text}.',
        },
        "servers": [{"url": current_app.config["BASE_URL"].rstrip("/")}],
        "paths": PATHS,
        "components": {
            "schemas": SCHEMAS,
            "securitySchemes": {
                "bearer": {
                    "type": "http",
                    "scheme": "bearer",
                    "description": "Session token from /auth/api/exchange",
                }
            },
        },
    }
