"""Seeds the sandbox Salesforce org from the built-in demo CRM's generator (same people)."""

from __future__ import annotations

from typing import Any

from ..crm.builtin.demo_data import DEFAULT_SEED, demo_crm
from .salesforce_store import Org


def split_name(name: str) -> tuple[str, str]:
    first, _, last = name.strip().rpartition(" ")
    return first, last or first


def computed_fields(sobject: str, record: dict[str, Any]) -> None:
    """Fields Salesforce derives itself (Name of people, IsClosed of stages)."""
    if sobject in ("Contact", "Lead"):
        record["Name"] = " ".join(p for p in (record.get("FirstName"), record.get("LastName")) if p)
    if sobject == "Lead":
        record.setdefault("IsConverted", False)
        record.setdefault("Status", "Open - Not Contacted")
    if sobject == "Opportunity" and "StageName" in record:
        record["IsClosed"] = str(record["StageName"]).startswith("Closed")


def seed_org(org: Org, seed: int = DEFAULT_SEED, scale: bool = False) -> None:
    data = demo_crm(seed, scale)
    owner_ids = {u["DirectoryObjectId"]: uid for uid, u in org.users.items()}
    account_ids: list[str] = []
    for account in data.accounts:
        record_id = org.new_id("Account")
        account_ids.append(record_id)
        org.table("Account")[record_id] = {
            "Id": record_id,
            "Name": account.name,
            "Website": f"https://www.{account.domains[0]}",
            "Other_Domains__c": ";".join(account.domains[1:]) or None,
            "OwnerId": owner_ids[account.owner],
        }
    for contact in data.contacts:
        record_id = org.new_id("Contact")
        first, last = split_name(contact.name)
        emails = list(contact.emails) + [None, None]
        record = {
            "Id": record_id,
            "FirstName": first,
            "LastName": last,
            "Email": emails[0],
            "Alternate_Email__c": emails[1],
            "Other_Email__c": emails[2],
            "Title": contact.title,
            "AccountId": account_ids[contact.account] if contact.account is not None else None,
            "OwnerId": owner_ids[contact.owner],
        }
        computed_fields("Contact", record)
        org.table("Contact")[record_id] = record
    for lead in data.leads:
        record_id = org.new_id("Lead")
        first, last = split_name(lead.name)
        record = {
            "Id": record_id,
            "FirstName": first,
            "LastName": last,
            "Email": lead.email,
            "Company": lead.company or "(none)",
            "Status": lead.status,
            "IsConverted": lead.converted,
            "OwnerId": owner_ids[lead.owner],
        }
        computed_fields("Lead", record)
        org.table("Lead")[record_id] = record
    for opportunity in data.opportunities:
        record_id = org.new_id("Opportunity")
        org.table("Opportunity")[record_id] = {
            "Id": record_id,
            "Name": opportunity.name,
            "AccountId": account_ids[opportunity.account],
            "OwnerId": owner_ids[opportunity.owner],
            "StageName": opportunity.stage,
            "IsClosed": opportunity.is_closed,
            "Amount": opportunity.amount,
            "CloseDate": opportunity.close_date.isoformat(),
        }
