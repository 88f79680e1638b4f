"""The sandbox Salesforce's data: orgs, users, records, grants and the switches.

Everything lives in memory inside the sandbox process, behind one lock. Each sandbox directory
tenant has its own Salesforce org; the demo tenant's org is seeded from the same deterministic
generator as the built-in demo CRM, so both adapters see the same people.
"""

from __future__ import annotations

import threading
import time
from dataclasses import dataclass, field
from typing import Any

from .directory import DEMO_TENANT_ID, DEMO_USERS, OTHER_TENANT_ID

API_VERSION = "60.0"
DEFAULT_DAILY_LIMIT = 100_000

# Key prefixes of the standard objects we serve (the first three characters of every id).
PREFIXES = {
    "Account": "001",
    "Contact": "003",
    "Opportunity": "006",
    "Lead": "00Q",
    "Task": "00T",
    "Event": "00U",
    "User": "005",
    "Organization": "00D",
    "EmailMessage": "02s",
    "EmailMessageRelation": "0Ei",
    "TaskRelation": "0RT",
    "EventRelation": "0RE",
}
TYPE_BY_PREFIX = {prefix: name for name, prefix in PREFIXES.items()}

# The fields each object accepts on create/update (the org's schema, custom fields included).
ACTIVITY_FIELDS = {"Subject", "Description", "OwnerId", "WhoId", "WhatId", "Courier_Key__c"}
FIELDS: dict[str, set[str]] = {
    "Account": {"Name", "Website", "Other_Domains__c", "OwnerId", "LastActivityDate"},
    "Contact": {
        "FirstName",
        "LastName",
        "Email",
        "Alternate_Email__c",
        "Other_Email__c",
        "Title",
        "AccountId",
        "OwnerId",
        "LastActivityDate",
    },
    "Lead": {
        "FirstName",
        "LastName",
        "Email",
        "Company",
        "Status",
        "IsConverted",
        "OwnerId",
        "LastActivityDate",
    },
    "Opportunity": {
        "Name",
        "AccountId",
        "OwnerId",
        "StageName",
        "IsClosed",
        "Amount",
        "CloseDate",
        "LastActivityDate",
    },
    "Task": ACTIVITY_FIELDS | {"TaskSubtype", "Status", "ActivityDate", "Priority"},
    "Event": ACTIVITY_FIELDS
    | {"StartDateTime", "EndDateTime", "DurationInMinutes", "Location", "Courier_Series_Key__c"},
    "EmailMessage": {
        "Subject",
        "TextBody",
        "HtmlBody",
        "FromAddress",
        "FromName",
        "ToAddress",
        "CcAddress",
        "BccAddress",
        "MessageDate",
        "MessageIdentifier",
        "ThreadIdentifier",
        "Status",
        "Incoming",
        "RelatedToId",
        "ToIds",
        "CcIds",
        "BccIds",
        "Headers",
        "Courier_Key__c",
    },
    "User": {"Username", "Email", "Name"},  # readable only
    "EmailMessageRelation": {"EmailMessageId", "RelationId", "RelationType", "RelationAddress"},
    "TaskRelation": {"TaskId", "RelationId", "IsWhat"},
    "EventRelation": {"EventId", "RelationId", "IsParent", "IsInvitee", "IsWhat"},
}
REQUIRED = {
    "Account": ("Name",),
    "Contact": ("LastName",),
    "Lead": ("LastName", "Company"),
    "Opportunity": ("Name", "StageName", "CloseDate"),
    "EmailMessage": ("Status",),
    "EmailMessageRelation": ("EmailMessageId", "RelationType"),
    "TaskRelation": ("TaskId", "RelationId"),
    "EventRelation": ("EventId", "RelationId"),
}
MAX_LENGTH = {
    "Subject": 255,
    "MessageIdentifier": 255,
    "Courier_Key__c": 255,
    "Courier_Series_Key__c": 255,
    "TextBody": 32_000,
    "HtmlBody": 32_000,
    "Description": 32_000,
    "FromName": 1_000,
    "CcAddress": 4_000,
    "BccAddress": 4_000,
    "ToAddress": 4_000,
    "Name": 255,
    "LastName": 80,
    "FirstName": 40,
    "Email": 80,
    "Company": 255,
    "Title": 128,
}
# Custom fields defined as "Unique" external ids (case-insensitive), like the README asks.
UNIQUE_FIELDS = {"Courier_Key__c"}
_SUFFIX_CHARS = "ABCDEFGHIJKLMNOPQRSTUVWXYZ012345"
_BASE62 = "0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz"


def salesforce_id(prefix: str, number: int) -> str:
    """An 18-character Salesforce id: prefix, pod, counter, and the case-safe suffix."""
    digits = ""
    while number:
        number, rem = divmod(number, 62)
        digits = _BASE62[rem] + digits
    core = (prefix + "5g" + digits.rjust(10, "0"))[:15]
    suffix = ""
    for chunk in (core[0:5], core[5:10], core[10:15]):
        bits = sum(1 << i for i, ch in enumerate(chunk) if "A" <= ch <= "Z")
        suffix += _SUFFIX_CHARS[bits]
    return core + suffix


class SalesforceError(Exception):
    """An error answered in Salesforce's body shape: [{"message", "errorCode", "fields"}]."""

    def __init__(self, status: int, code: str, message: str, fields: list[str] | None = None):
        super().__init__(message)
        self.status, self.code, self.message, self.fields = status, code, message, fields or []

    def body(self) -> list[dict[str, Any]]:
        entry: dict[str, Any] = {"message": self.message, "errorCode": self.code}
        if self.fields:
            entry["fields"] = self.fields
        return [entry]


@dataclass
class Org:
    org_id: str
    tenant_id: str
    users: dict[str, dict[str, Any]] = field(default_factory=dict)  # id -> User record
    records: dict[str, dict[str, dict[str, Any]]] = field(default_factory=dict)
    # (sobject, unique field) -> lower-cased value -> record id
    unique: dict[tuple[str, str], dict[str, str]] = field(default_factory=dict)
    next_number: int = 1
    api_used: int = 0
    daily_limit: int = DEFAULT_DAILY_LIMIT

    def new_id(self, sobject: str) -> str:
        number = self.next_number
        self.next_number += 1
        return salesforce_id(PREFIXES[sobject], number)

    def table(self, sobject: str) -> dict[str, dict[str, Any]]:
        return self.records.setdefault(sobject, {})

    def find(self, record_id: str) -> tuple[str, dict[str, Any]] | None:
        sobject = TYPE_BY_PREFIX.get(record_id[:3])
        if sobject == "User":
            user = self.users.get(record_id)
            return ("User", user) if user else None
        record = self.table(sobject).get(record_id) if sobject else None
        return (sobject, record) if record is not None else None


@dataclass
class Faults:
    latency_ms: int = 0
    slow_ms: int = 0
    slow_calls: int = 0
    request_limit_exceeded: int = 0  # the next N calls answer REQUEST_LIMIT_EXCEEDED
    unavailable: int = 0  # the next N calls answer 503 before doing anything
    ambiguous_writes: int = 0  # the next N write calls do the work, then answer 503
    failing_records: int = 0  # the next N records in collections fail UNABLE_TO_LOCK_ROW
    collate_seed: int = 0  # not 0: Composite runs independent subrequests in a seeded order


@dataclass
class SalesforceState:
    """The whole sandbox Salesforce (one per sandbox app)."""

    orgs: dict[str, Org] = field(default_factory=dict)
    codes: dict[str, dict[str, Any]] = field(default_factory=dict)
    access_tokens: dict[str, dict[str, Any]] = field(default_factory=dict)
    refresh_tokens: dict[str, dict[str, Any]] = field(default_factory=dict)
    cursors: dict[str, dict[str, Any]] = field(default_factory=dict)
    faults: Faults = field(default_factory=Faults)
    api_calls: int = 0
    calls_by_kind: dict[str, int] = field(default_factory=dict)
    # Token endpoint requests by grant type (they do not count against the API allowance).
    token_requests: dict[str, int] = field(default_factory=dict)
    access_token_seconds: int = 7200
    rotate_refresh_tokens: bool = False  # the connected app's "refresh token rotation"
    default_batch_size: int = 2000
    lock: threading.RLock = field(default_factory=threading.RLock)

    def org_of_tenant(self, tenant_id: str) -> Org:
        return next(o for o in self.orgs.values() if o.tenant_id == tenant_id)

    def user_by_username(self, username: str) -> tuple[Org, dict[str, Any]] | None:
        for org in self.orgs.values():
            for user in org.users.values():
                if user["Username"].lower() == username.strip().lower():
                    return org, user
        return None

    def count_call(self, org: Org, kind: str) -> None:
        self.api_calls += 1
        self.calls_by_kind[kind] = self.calls_by_kind.get(kind, 0) + 1
        org.api_used += 1

    def expire_access_tokens(self) -> int:
        now = time.time()
        for grant in self.access_tokens.values():
            grant["expires_at"] = now - 1
        return len(self.access_tokens)

    def revoke_grants(self, username: str | None = None) -> int:
        revoked = 0
        for table in (self.refresh_tokens, self.access_tokens):
            for token, grant in list(table.items()):
                if username is None or grant["username"].lower() == username.lower():
                    del table[token]
                    revoked += 1
        return revoked


def new_state(seed_demo: bool = True) -> SalesforceState:
    """A fresh sandbox Salesforce: one org per directory tenant, the demo org seeded."""
    from .salesforce_seed import seed_org

    state = SalesforceState()
    for number, tenant in enumerate((DEMO_TENANT_ID, OTHER_TENANT_ID), start=1):
        org = Org(org_id=salesforce_id(PREFIXES["Organization"], number), tenant_id=tenant)
        for user in (u for u in DEMO_USERS if u.tenant_id == tenant):
            user_id = org.new_id("User")
            org.users[user_id] = {
                "Id": user_id,
                "Username": user.email,
                "Email": user.email,
                "Name": user.display_name,
                "DirectoryObjectId": user.object_id,
            }
        state.orgs[org.org_id] = org
    if seed_demo:
        seed_org(state.org_of_tenant(DEMO_TENANT_ID))
    return state
