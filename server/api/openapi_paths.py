"""The account endpoints the pane calls besides its own: sign-in exchange and sign-out, the
signed-in user, their sync settings and health, and their CRM connection. Their views live
with their features (server/auth, server/api/policy.py, server/sync, server/crm/salesforce);
only their description is here, so /api/openapi.json covers every JSON route the pane uses.
Microsoft's webhook callbacks (/api/graph/...) are not part of the pane's API."""

from __future__ import annotations

from typing import Any

from .openapi_schemas import BOOL, STR, json_body, obj, op, ref

ANY_OBJECT = {"type": "object"}
FORBIDDEN = {"403": {"description": "Only an organisation admin may do this"}}
CHANGES = obj(
    [],
    changes={
        "type": "object",
        "description": "setting: value (the body itself is taken as the changes without it)",
    },
)
USER = obj(
    ["id", "email", "display_name", "role", "organisation"],
    id={"type": "integer"},
    email=STR,
    display_name=STR,
    aliases={"type": "array", "items": STR},
    role=STR,
    organisation=ANY_OBJECT,
    microsoft=ANY_OBJECT,
)
POLICY_VIEW = obj(
    ["settings", "effective", "catalogue"],
    settings=ANY_OBJECT,
    effective=ANY_OBJECT,
    defaults=ANY_OBJECT,
    directory_domains={"type": "array", "items": STR},
    catalogue=ANY_OBJECT,
)
SYNC_HEALTH = obj(["state"], state=STR, last_session={"type": ["object", "null"]})

ACCOUNT_PATHS: dict[str, Any] = {
    "/auth/api/exchange": {
        "post": {
            **op(
                "Exchange the sign-in dialog's one-time code for a session token",
                obj(
                    ["token", "token_type", "expires_at", "user"],
                    token=STR,
                    token_type={"enum": ["Bearer"]},
                    expires_at={"type": "string", "format": "date-time"},
                    user=USER,
                ),
                obj(["code"], code=STR),
                extra={"429": {"description": "Too many attempts", **json_body(ANY_OBJECT)}},
            ),
            "security": [],
        }
    },
    "/auth/api/signout": {
        "post": op("End this session", obj(["signed_out"], signed_out=BOOL, revoked=BOOL))
    },
    "/auth/api/disconnect": {
        "post": op(
            "Disconnect Microsoft: forget its tokens and end every session of the user",
            obj(["disconnected"], disconnected=BOOL),
        )
    },
    "/api/me": {"get": op("The signed-in user", USER)},
    "/api/policy/me": {
        "get": op("The user's own sync settings and the effective policy", POLICY_VIEW),
        "put": op("Change the user's own sync settings", POLICY_VIEW, CHANGES),
    },
    "/api/policy/me/preview": {
        "post": op("What recent mail the changed settings would sync or skip", ANY_OBJECT, CHANGES)
    },
    "/api/policy/me/blocklist": {
        "delete": op(
            "Remove an address or domain from the user's blocklist",
            obj(["removed"], removed=ANY_OBJECT),
            obj(["entry"], entry=STR),
        )
    },
    "/api/policy/org": {
        "get": op("The organisation's data controls", POLICY_VIEW, extra=FORBIDDEN),
        "put": op("Change the organisation's data controls", POLICY_VIEW, CHANGES, extra=FORBIDDEN),
    },
    "/api/policy/org/preview": {
        "post": op(
            "What recent mail the changed data controls would sync or skip",
            ANY_OBJECT,
            CHANGES,
            extra=FORBIDDEN,
        )
    },
    "/api/sync/health": {"get": op("The user's background sync health", SYNC_HEALTH)},
    "/api/sync/now": {
        "post": op(
            "Start the user's background sync now (unless one is waiting)",
            {**SYNC_HEALTH, "properties": {**SYNC_HEALTH["properties"], "enqueued": BOOL}},
            status="202",
        )
    },
    "/api/crm/salesforce/connect": {
        "post": op(
            "Where to send the user to connect their Salesforce login (OAuth with PKCE). "
            "The pane opens /crm/salesforce/dialog?ticket=T in an Office dialog in the "
            "user's click, then binds its ticket T here (409 ticket_in_use if taken); the "
            'dialog\'s last page messages {"type": "courier-crm", "connected": ...} to '
            "the pane",
            obj(
                ["authorize_url", "dialog_url"],
                authorize_url={"type": "string", "format": "uri"},
                dialog_url={"type": "string", "format": "uri"},
            ),
            obj(
                [],
                mode={"enum": ["web", "dialog"]},
                ticket={"type": "string", "pattern": "^[A-Za-z0-9_-]{32,128}$"},
            ),
            extra={
                "409": {
                    "description": "The ticket is already bound (ticket_in_use)",
                    **json_body(ref("Error")),
                }
            },
        )
    },
    "/api/crm/salesforce/status": {
        "get": op(
            "The user's Salesforce connection",
            obj(
                ["connected"],
                connected=BOOL,
                needs_reauth=BOOL,
                username=STR,
                instance_url=STR,
                budget=ANY_OBJECT,
            ),
        )
    },
    "/api/crm/salesforce/disconnect": {
        "post": op("Disconnect the user's Salesforce login", obj(["connected"], connected=BOOL))
    },
}
