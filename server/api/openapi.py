"""The OpenAPI 3.1 description of Courier's JSON API for the pane (served at
/api/openapi.json): the pane's own endpoints (/api/...) and the account endpoints it calls
(/auth/api/..., /api/me, /api/policy/me, /api/sync/..., /api/crm/...).

A test checks that every JSON route under /api and /auth/api is described here and that each
described operation exists, so the document cannot drift from the code."""

from __future__ import annotations

from typing import Any

from flask import current_app

from .openapi_paths import ACCOUNT_PATHS
from .openapi_schemas import BOOL, SCHEMAS, STR, json_body, obj, op, ref

PATHS: dict[str, Any] = {
    "/api/ping": {"get": op("Authenticated no-op", obj(["ok"], ok=BOOL))},
    "/api/suggestions": {
        "post": op(
            "Participants with CRM records, accounts, opportunities, saved and thread state",
            ref("Suggestions"),
            obj(["item"], item=ref("Item")),
        )
    },
    "/api/saves": {
        "post": op(
            "Save the email to the chosen records (idempotent; queued when the CRM is down)",
            ref("SaveResult"),
            obj(
                ["item", "links"],
                item=ref("Item"),
                links={"type": "array", "items": ref("RecordRef"), "minItems": 1, "maxItems": 50},
                auto_save_thread=BOOL,
            ),
            status="201",
            extra={
                "200": {
                    "description": "Already saved, or queued (pending)",
                    **json_body(ref("SaveResult")),
                },
                "409": {
                    "description": "A chosen person is on a do-not-sync list",
                    **json_body(ref("Error")),
                },
            },
        )
    },
    "/api/saves/state": {
        "post": op(
            "Saved state of an email (poll while pending)",
            ref("SavedState"),
            obj(["item"], item=ref("Item")),
        )
    },
    "/api/threads": {
        "put": op(
            "Turn auto-save of a conversation on or off",
            obj(
                ["conversation_id", "auto_save"],
                conversation_id=STR,
                auto_save=BOOL,
                links={"type": "array", "items": ref("RecordRef")},
            ),
            obj(
                ["conversation_id", "enabled"],
                conversation_id=STR,
                enabled=BOOL,
                links={"type": "array", "items": ref("RecordRef")},
            ),
        )
    },
    "/api/blocklist": {
        "post": op(
            "Do not sync an address or a whole domain (the user's blocklist)",
            obj(
                ["list", "entry"],
                list={"enum": ["blocked_addresses", "blocked_domains"]},
                entry=STR,
            ),
            obj(["entry"], entry={"type": "string", "maxLength": 320}),
            status="201",
        )
    },
    "/api/choices": {
        "post": op(
            "Remember the record picked for an address",
            obj(["address", "record"], address=STR, record=ref("RecordRef")),
            obj(
                ["address", "record"],
                address={"type": "string", "format": "email"},
                record=ref("RecordRef"),
            ),
            status="201",
        )
    },
    "/api/cards": {
        "post": op(
            "A card per matched person: owner, account, last interaction, latest activities, "
            "open and closed opportunities, the record in the CRM",
            obj(["cards"], cards={"type": "array", "items": ref("PersonCard")}),
            obj(["people"], people={"type": "array", "items": ref("RecordRef")}),
        )
    },
    "/api/saves/unlink": {
        "post": op(
            "Unlink records from the saved email, in the CRM (409 unlink_refused where the "
            "CRM cannot drop such a link)",
            ref("SavedState"),
            obj(
                ["item", "links"],
                item=ref("Item"),
                links={"type": "array", "items": ref("RecordRef")},
            ),
        )
    },
    "/api/saves/remove": {
        "post": op(
            "Remove the saved email from the CRM (audited); no sync saves it again",
            ref("SavedState"),
            obj(["item"], item=ref("Item")),
        )
    },
    "/api/meetings/state": {
        "post": op(
            "The saved state of a meeting of the user's calendar, by its event id",
            ref("SavedState"),
            obj(["event_id"], event_id={"type": "string"}),
        )
    },
    "/api/meetings/unlink": {
        "post": op(
            "Unlink records from a saved meeting, in the CRM (409 unlink_refused where the "
            "CRM cannot drop such a link; 404 unknown_meeting)",
            ref("SavedState"),
            obj(
                ["event_id", "links"],
                event_id={"type": "string"},
                links={"type": "array", "items": ref("RecordRef")},
            ),
        )
    },
    "/api/meetings/remove": {
        "post": op(
            "Remove a saved meeting from the CRM (audited); no sync saves it again, nor its "
            "later updates, nor another attendee's copy",
            ref("SavedState"),
            obj(["event_id"], event_id={"type": "string"}),
        )
    },
    "/api/contacts": {
        "post": op(
            "Create a contact (prefilled from the email)",
            ref("Record"),
            ref("PersonInput"),
            status="201",
        )
    },
    "/api/leads": {
        "post": op(
            "Create a lead (prefilled from the email)",
            ref("Record"),
            ref("PersonInput"),
            status="201",
        )
    },
    "/api/search": {
        "get": {
            **op(
                "Search CRM records by name, email or company",
                obj(
                    ["query", "results"],
                    query=STR,
                    results={
                        "type": "array",
                        "items": obj(["ref", "name"], ref=ref("RecordRef"), name=STR, subtitle=STR),
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
        "paths": {**PATHS, **ACCOUNT_PATHS},
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
