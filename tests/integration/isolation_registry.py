"""How the cross-tenant isolation test builds requests with another organisation's ids.

tests/integration/test_tenant_isolation.py walks every rule of the app's URL map. For each URL
variable (e.g. `<int:record_id>`) it looks up the variable's NAME here and builds a value that
belongs to a given organisation. A route whose variable name has no builder makes the test fail
with a message pointing here — that is how routes added later join the check.

To add a route:
- reuse a conventional name when it means the same thing (user_id, org_id, tenant_id,
  object_id, record_id with a `kind` choice), or
- register a builder (additive edit):

      @id_builder("account_id")
      def _account(side: OrgSide, rule, values) -> int:
          account = Account(org_id=side.org.id, name=side.marker("Account"))  # your model
          side.db.add(account); side.db.commit()
          return account.id

  `side.marker(text)` returns a unique string AND registers it, so the test also fails if that
  text ever appears in a response to the other organisation (put it in a name field).
  `values` holds the variables already chosen: choice variables (`<any(a, b):kind>`) are
  filled first, every choice in turn, so a builder can depend on them.
- or, for endpoints that are not organisation data at all (static files, health, sign-in
  steps, the public preview), add the endpoint (or an "blueprint." prefix) to PUBLIC_ENDPOINTS
  with the reason.
"""

from __future__ import annotations

import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy.orm import Session
from werkzeug.routing import Rule

from server.models.tenancy import Organisation, User


@dataclass
class OrgSide:
    """One organisation in the test: its admin user, a session token, and leak markers."""

    org: Organisation
    user: User
    db: Session
    markers: set[str] = field(default_factory=set)

    def marker(self, text: str) -> str:
        value = f"{text} {uuid.uuid4().hex[:10]}"
        self.markers.add(value)
        return value


Builder = Callable[[OrgSide, Rule, dict], Any]
ID_BUILDERS: dict[str, Builder] = {}

# endpoint (or "blueprint." prefix) → why it carries no organisation data.
PUBLIC_ENDPOINTS: dict[str, str] = {
    "static": "Flask's static files",
    "health.": "process and dependency health, no organisation data",
    "metrics.": "cluster-wide Prometheus counters, no organisation data, behind METRICS_TOKEN",
    "pages.home": "the start page, no organisation data",
    "auth.signin_start": "sign-in step before any identity exists",
    "auth.callback": "sign-in step, identity comes from Microsoft",
    "auth.signout": "ends the caller's own cookie session",
    "addin.": "static task pane files and the manifest",
    "preview.": "the simulated Outlook for demos and browser tests (static)",
}


def id_builder(*names: str) -> Callable[[Builder], Builder]:
    def register(fn: Builder) -> Builder:
        for name in names:
            if name in ID_BUILDERS:
                raise ValueError(f"isolation id builder for {name!r} registered twice")
            ID_BUILDERS[name] = fn
        return fn

    return register


def is_public(endpoint: str) -> bool:
    return any(
        endpoint == key or (key.endswith(".") and endpoint.startswith(key))
        for key in PUBLIC_ENDPOINTS
    )


@id_builder("org_id", "organisation_id")
def _org(side: OrgSide, rule: Rule, values: dict) -> int:
    return side.org.id


@id_builder("user_id")
def _user(side: OrgSide, rule: Rule, values: dict) -> int:
    return side.user.id


@id_builder("tenant_id")
def _tenant(side: OrgSide, rule: Rule, values: dict) -> str:
    return side.org.tenant_id


@id_builder("object_id", "oid")
def _object(side: OrgSide, rule: Rule, values: dict) -> str:
    return side.user.object_id


@id_builder("record_id")
def _crm_record(side: OrgSide, rule: Rule, values: dict) -> int:
    """A built-in CRM record of `values["kind"]` (account by default) in the side's org."""
    from server.crm.builtin import models as crm

    def account() -> crm.CrmAccount:
        row = crm.CrmAccount(org_id=side.org.id, name=side.marker("Account"))
        side.db.add(row)
        side.db.flush()
        return row

    kind = values.get("kind", "account")
    if kind == "contact":
        row = crm.CrmContact(org_id=side.org.id, name=side.marker("Contact"))
    elif kind == "lead":
        row = crm.CrmLead(
            org_id=side.org.id,
            name=side.marker("Lead"),
            email=f"lead-{uuid.uuid4().hex[:8]}@example.com",
        )
    elif kind == "opportunity":
        row = crm.CrmOpportunity(
            org_id=side.org.id,
            name=side.marker("Deal"),
            account_id=account().id,
            stage="Prospecting",
        )
    else:
        row = account()
    side.db.add(row)
    side.db.commit()
    return row.id
