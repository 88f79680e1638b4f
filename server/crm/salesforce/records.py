"""Pure mapping between Salesforce records and the neutral CRM records (no I/O)."""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import date
from typing import Any
from urllib.parse import urlsplit

from ..base import Account, Opportunity, Person, RecordRef, RecordType

# What an Opportunity is read with (the pane's list and the card): `opportunity_from` reads them.
OPPORTUNITY_FIELDS = (
    "Id",
    "Name",
    "AccountId",
    "OwnerId",
    "StageName",
    "IsClosed",
    "Amount",
    "CloseDate",
)

SOBJECT_OF: dict[RecordType, str] = {
    "contact": "Contact",
    "lead": "Lead",
    "account": "Account",
    "opportunity": "Opportunity",
}
PREFIX_OF: dict[RecordType, str] = {
    "contact": "003",
    "lead": "00Q",
    "account": "001",
    "opportunity": "006",
}
TYPE_OF_PREFIX: dict[str, RecordType] = {v: k for k, v in PREFIX_OF.items()}
_ID = re.compile(r"^[a-zA-Z0-9]{15}(?:[a-zA-Z0-9]{3})?$")
_ADDRESS = re.compile(
    r"^[^@\s'\"\\]{1,64}@[a-z0-9](?:[a-z0-9-]*[a-z0-9])?(?:\.[a-z0-9](?:[a-z0-9-]*[a-z0-9])?)+$"
)
IN_CHUNK = 300  # values per IN list: keeps one SOQL statement well under the 100,000 limit


@dataclass(frozen=True)
class SalesforceOptions:
    """The org-specific shape of Salesforce we write to (from settings)."""

    contact_email_fields: tuple[str, ...] = ("Email",)
    account_domain_fields: tuple[str, ...] = ("Website",)
    email_mode: str = "enhanced"  # enhanced | task
    email_key_field: str = "Courier_Key__c"
    activity_key_field: str = "Courier_Key__c"
    series_key_field: str = ""  # on Event: the series key of an occurrence ("": not written)
    cache_ttl_seconds: int = 900


def valid_id(record_id: str, kind: RecordType | None = None) -> bool:
    if not isinstance(record_id, str) or not _ID.match(record_id):
        return False
    return kind is None or record_id[:3] == PREFIX_OF[kind]


def type_of_id(record_id: str) -> RecordType | None:
    return TYPE_OF_PREFIX.get((record_id or "")[:3])


def normal_address(value: Any) -> str | None:
    if not isinstance(value, str):
        return None
    address = value.strip().lower()
    return address if len(address) <= 254 and _ADDRESS.match(address) else None


def host_of(value: str | None) -> list[str]:
    """Domains in a domain field: a website URL, a bare domain, or a ;/, separated list."""
    out: list[str] = []
    for part in re.split(r"[;,\s]+", value or ""):
        if not part:
            continue
        host = urlsplit(part if "//" in part else f"//{part}").hostname or ""
        host = host.lower().removeprefix("www.")
        if host and host not in out:
            out.append(host)
    return out


def person_from(record: dict[str, Any], email_fields: tuple[str, ...]) -> Person:
    sobject = record["attributes"]["type"]
    kind: RecordType = "contact" if sobject == "Contact" else "lead"
    fields = email_fields if kind == "contact" else ("Email",)
    emails: list[str] = []
    for name in fields:
        address = (record.get(name) or "").strip().lower()
        if address and address not in emails:
            emails.append(address)
    account = record.get("Account") or {}
    return Person(
        ref=RecordRef(kind, record["Id"]),
        name=record.get("Name") or "",
        emails=emails,
        owner_id=record.get("OwnerId"),
        title=record.get("Title") or "",
        account_id=record.get("AccountId"),
        account_name=account.get("Name") or "",
        company=record.get("Company") or "",
        status=record.get("Status") or "",
    )


def account_from(record: dict[str, Any], domain_fields: tuple[str, ...]) -> Account:
    domains: list[str] = []
    for name in domain_fields:
        for host in host_of(record.get(name)):
            if host not in domains:
                domains.append(host)
    return Account(
        RecordRef("account", record["Id"]), record.get("Name") or "", domains, record.get("OwnerId")
    )


def opportunity_from(record: dict[str, Any]) -> Opportunity:
    close = record.get("CloseDate")
    return Opportunity(
        ref=RecordRef("opportunity", record["Id"]),
        name=record.get("Name") or "",
        account_id=record.get("AccountId") or "",
        owner_id=record.get("OwnerId"),
        stage=record.get("StageName") or "",
        is_closed=bool(record.get("IsClosed")),
        amount=float(record["Amount"]) if record.get("Amount") is not None else None,
        close_date=date.fromisoformat(close) if close else None,
    )


def chunks(values: list[str], size: int = IN_CHUNK) -> list[list[str]]:
    return [values[i : i + size] for i in range(0, len(values), size)]


def in_list(values: list[str]) -> str:
    from .client import soql_quote

    return "(" + ", ".join(soql_quote(v) for v in values) + ")"


def split_name(name: str) -> tuple[str, str]:
    first, _, last = name.strip().rpartition(" ")
    return first[:40], (last or first or "(unknown)")[:80]
