"""The sandbox tenant's directory: the demo organisation and its users.

Shared by the sandbox (which signs these users in as Microsoft would) and the demo seed
(which creates the matching Courier organisation and users, and owns CRM records by them).
Deterministic: the same ids on every machine.
"""

from __future__ import annotations

from dataclasses import dataclass, field

DEMO_DOMAIN = "courier-demo.test"
DEMO_TENANT_ID = "8d3f7a52-4c1e-4b7a-9e21-5f0c2d6a9b10"
# A second tenant, for cross-organisation isolation tests and demos.
OTHER_TENANT_ID = "2b6e1c94-7d05-4f3a-8a6c-0e9d4b1f7c32"
OTHER_DOMAIN = "northwind-other.test"

# Entra directory role template id of "Global Administrator" (as it appears in `wids`).
GLOBAL_ADMIN_ROLE = "62e90394-69f5-4237-9190-012177145e10"


@dataclass(frozen=True)
class DirectoryUser:
    tenant_id: str
    object_id: str
    display_name: str
    email: str
    aliases: tuple[str, ...] = field(default_factory=tuple)
    wids: tuple[str, ...] = field(default_factory=tuple)


DEMO_USERS: tuple[DirectoryUser, ...] = (
    DirectoryUser(
        DEMO_TENANT_ID,
        "0a1b2c3d-0000-4000-8000-000000000001",
        "Alex Morgan",
        f"alex@{DEMO_DOMAIN}",
        (f"alex.morgan@{DEMO_DOMAIN}",),
        (GLOBAL_ADMIN_ROLE,),
    ),
    DirectoryUser(
        DEMO_TENANT_ID,
        "0a1b2c3d-0000-4000-8000-000000000002",
        "Bianca Reyes",
        f"bianca@{DEMO_DOMAIN}",
        (f"bianca.reyes@{DEMO_DOMAIN}",),
    ),
    DirectoryUser(
        DEMO_TENANT_ID,
        "0a1b2c3d-0000-4000-8000-000000000003",
        "Chen Wei",
        f"chen@{DEMO_DOMAIN}",
        (f"chen.wei@{DEMO_DOMAIN}",),
    ),
    DirectoryUser(
        DEMO_TENANT_ID,
        "0a1b2c3d-0000-4000-8000-000000000004",
        "Dana Okafor",
        f"dana@{DEMO_DOMAIN}",
        (f"dana.okafor@{DEMO_DOMAIN}",),
    ),
    DirectoryUser(
        DEMO_TENANT_ID,
        "0a1b2c3d-0000-4000-8000-000000000005",
        "Eli Novak",
        f"eli@{DEMO_DOMAIN}",
        (f"eli.novak@{DEMO_DOMAIN}",),
    ),
    DirectoryUser(
        OTHER_TENANT_ID,
        "5e6f7a8b-0000-4000-8000-000000000001",
        "Olga Petrova",
        f"olga@{OTHER_DOMAIN}",
        (),
        (GLOBAL_ADMIN_ROLE,),
    ),
    DirectoryUser(
        OTHER_TENANT_ID,
        "5e6f7a8b-0000-4000-8000-000000000002",
        "Omar Haddad",
        f"omar@{OTHER_DOMAIN}",
    ),
)


def users_of(tenant_id: str) -> list[DirectoryUser]:
    return [u for u in DEMO_USERS if u.tenant_id == tenant_id]


def find_user(tenant_id: str, object_id: str) -> DirectoryUser | None:
    return next(
        (u for u in DEMO_USERS if u.tenant_id == tenant_id and u.object_id == object_id), None
    )
