"""The sandbox Salesforce's record writes (sObject create and update) with Salesforce's
validation: field names and lengths, references, required and unique fields, and Shared
Activities' limits. Plain functions over an org; salesforce_rest.py routes to them."""

from __future__ import annotations

from typing import Any

from .salesforce_seed import computed_fields
from .salesforce_store import (
    FIELDS,
    MAX_LENGTH,
    REQUIRED,
    UNIQUE_FIELDS,
    Org,
    SalesforceError,
)

REFERENCE_FIELDS = {
    "AccountId",
    "OwnerId",
    "WhoId",
    "WhatId",
    "RelatedToId",
    "RelationId",
    "EmailMessageId",
    "TaskId",
    "EventId",
}
RELATION_OF_JUNCTION = {"ToIds": "ToAddress", "CcIds": "CcAddress", "BccIds": "BccAddress"}
# Restricted picklists: any other value is refused, as the object reference marks them
# "Restricted picklist" (values as documented):
# - EmailMessageRelation.RelationType: FromAddress, ToAddress, CcAddress, BccAddress
#   https://developer.salesforce.com/docs/atlas.en-us.object_reference.meta/object_reference/sforce_api_objects_emailmessagerelation.htm
# - Task.TaskSubtype: Task, Email, ListEmail, Cadence, Call, LinkedIn
#   https://developer.salesforce.com/docs/platform/object-reference/references/standard-objects/object-task.html
# - EmailMessage.Status: "0" New, "1" Read, "2" Replied, "3" Sent, "4" Forwarded, "5" Draft
#   https://developer.salesforce.com/docs/platform/object-reference/references/standard-objects/object-emailmessage.html
RESTRICTED_PICKLISTS: dict[tuple[str, str], tuple[str, frozenset[str]]] = {
    ("EmailMessageRelation", "RelationType"): (
        "Relation Type",
        frozenset({"FromAddress", "ToAddress", "CcAddress", "BccAddress"}),
    ),
    ("Task", "TaskSubtype"): (
        "Task Subtype",
        frozenset({"Task", "Email", "ListEmail", "Cadence", "Call", "LinkedIn"}),
    ),
    ("EmailMessage", "Status"): ("Status", frozenset({"0", "1", "2", "3", "4", "5"})),
}


def _check_picklists(sobject: str, values: dict[str, Any]) -> None:
    """Salesforce's answer to a value outside a restricted picklist: errorCode
    INVALID_OR_NULL_FOR_RESTRICTED_PICKLIST, the field's label and the value in the message, and
    the field in `fields` (errorcodes.htm; the message as orgs report it)."""
    for name, value in values.items():
        restricted = RESTRICTED_PICKLISTS.get((sobject, name))
        if restricted is None or value in (None, ""):
            continue
        label, allowed = restricted
        if str(value) not in allowed:
            raise SalesforceError(
                400,
                "INVALID_OR_NULL_FOR_RESTRICTED_PICKLIST",
                f"{label}: bad value for restricted picklist field: {value}",
                [name],
            )


def _validate(org: Org, sobject: str, values: dict[str, Any], creating: bool) -> None:
    allowed = FIELDS.get(sobject)
    if allowed is None or sobject in ("User", "Organization"):
        raise SalesforceError(400, "INVALID_TYPE", f"sObject type '{sobject}' is not supported.")
    for name, value in values.items():
        if name not in allowed:
            raise SalesforceError(
                400,
                "INVALID_FIELD",
                f"No such column '{name}' on sobject of type {sobject}",
                [name],
            )
        if isinstance(value, str) and len(value) > MAX_LENGTH.get(name, 10**9):
            raise SalesforceError(
                400,
                "STRING_TOO_LONG",
                f"{name}: data value too large (max length={MAX_LENGTH[name]})",
                [name],
            )
        refs = value if name in RELATION_OF_JUNCTION and isinstance(value, list) else [value]
        if name in REFERENCE_FIELDS or name in RELATION_OF_JUNCTION:
            for ref in refs:
                if ref and org.find(str(ref)) is None:
                    raise SalesforceError(
                        400,
                        "INVALID_CROSS_REFERENCE_KEY",
                        f"invalid cross reference id: {ref}",
                        [name],
                    )
    _check_picklists(sobject, values)
    if creating:
        missing = [f for f in REQUIRED.get(sobject, ()) if values.get(f) in (None, "")]
        if missing:
            raise SalesforceError(
                400, "REQUIRED_FIELD_MISSING", f"Required fields are missing: {missing}", missing
            )
    for name in UNIQUE_FIELDS & set(values):
        if not values[name]:
            continue
        other = org.unique.get((sobject, name), {}).get(str(values[name]).lower())
        if other is not None and other != values.get("Id"):
            raise SalesforceError(
                400,
                "DUPLICATE_VALUE",
                f"duplicate value found: {name} duplicates value on record with id: {other}",
                [name],
            )


def _index_unique(org: Org, sobject: str, record: dict[str, Any]) -> None:
    for name in UNIQUE_FIELDS:
        if record.get(name):
            org.unique.setdefault((sobject, name), {})[str(record[name]).lower()] = record["Id"]


def create(org: Org, sobject: str, values: dict[str, Any]) -> str:
    values = {k: v for k, v in values.items() if k != "attributes"}
    _validate(org, sobject, values, creating=True)
    if sobject in ("TaskRelation", "EventRelation"):
        _check_shared_activity(org, sobject, values)
    record_id = org.new_id(sobject)
    record = {"Id": record_id, **values}
    computed_fields(sobject, record)
    org.table(sobject)[record_id] = record
    _index_unique(org, sobject, record)
    if sobject == "EmailMessage":
        for junction, relation_type in RELATION_OF_JUNCTION.items():
            for related in values.get(junction) or []:
                found = org.find(related)
                create(
                    org,
                    "EmailMessageRelation",
                    {
                        "EmailMessageId": record_id,
                        "RelationId": related,
                        "RelationType": relation_type,
                        "RelationAddress": (found[1].get("Email") if found else None),
                    },
                )
    return record_id


def _check_shared_activity(org: Org, sobject: str, values: dict[str, Any]) -> None:
    """Shared Activities: an activity's "who" is up to 50 contacts or one lead."""
    parent_field = "TaskId" if sobject == "TaskRelation" else "EventId"
    if sobject == "EventRelation" and not (values.get("IsParent") or values.get("IsInvitee")):
        raise SalesforceError(400, "FIELD_INTEGRITY_EXCEPTION", "IsParent or IsInvitee required")
    if values.get("IsWhat") or (sobject == "EventRelation" and not values.get("IsParent")):
        return
    activity = org.table(sobject.removesuffix("Relation")).get(values.get(parent_field, ""), {})
    whos = {
        r["RelationId"]
        for r in org.table(sobject).values()
        if r.get(parent_field) == values.get(parent_field)
        and not r.get("IsWhat")
        and r.get("IsParent", True)
    }
    whos |= {activity["WhoId"]} if activity.get("WhoId") else set()
    whos.add(values["RelationId"])
    leads = [w for w in whos if w.startswith("00Q")]
    if (leads and len(whos) > 1) or len(whos) > 50:
        raise SalesforceError(
            400,
            "FIELD_INTEGRITY_EXCEPTION",
            "An activity can be related to only one lead or up to 50 contacts",
        )


# A relation's parent and related record "can't be changed after [they've] been specified"
# (EventRelation: EventId, RelationId; TaskRelation likewise): an invitee is removed by
# deleting its row. https://developer.salesforce.com/docs/atlas.en-us.object_reference.meta/object_reference/sforce_api_objects_eventattendee.htm
FIXED_FIELDS = {
    "EventRelation": ("EventId", "RelationId"),
    "TaskRelation": ("TaskId", "RelationId"),
    "EmailMessageRelation": ("EmailMessageId", "RelationId"),
}


def update(org: Org, sobject: str, record_id: str, values: dict[str, Any]) -> None:
    values = {k: v for k, v in values.items() if k not in ("attributes", "Id", "id")}
    record = org.table(sobject).get(record_id)
    if record is None:
        raise SalesforceError(404, "NOT_FOUND", "The requested resource does not exist")
    fixed = [f for f in FIXED_FIELDS.get(sobject, ()) if f in values]
    if fixed:
        raise SalesforceError(
            400,
            "INVALID_FIELD_FOR_INSERT_UPDATE",
            f"Unable to create/update fields: {', '.join(fixed)}. Please check the security "
            "settings of this field and verify that it is read/write for your profile or "
            "permission set.",
        )
    if sobject == "EmailMessage" and record.get("Status") != "5":
        raise SalesforceError(
            400, "INVALID_OPERATION", "EmailMessage can be updated only as a draft"
        )
    _validate(
        org,
        sobject,
        {**values, "Id": record_id} if UNIQUE_FIELDS & set(values) else values,
        creating=False,
    )
    record.update(values)
    computed_fields(sobject, record)
    _index_unique(org, sobject, record)


# Deleting a parent deletes its junction rows, as Salesforce does for an email's or an
# activity's relations (EmailMessageRelation, TaskRelation, EventRelation are children).
CHILD_RELATIONS = {
    "EmailMessage": ("EmailMessageRelation", "EmailMessageId"),
    "Task": ("TaskRelation", "TaskId"),
    "Event": ("EventRelation", "EventId"),
}


def delete(org: Org, sobject: str, record_id: str) -> None:
    """DELETE /sobjects/{sobject}/{id}: ENTITY_IS_DELETED for one already gone, as the REST
    API answers (https://developer.salesforce.com/docs/atlas.en-us.api_rest.meta/api_rest/dome_delete_record.htm)."""
    table = org.table(sobject)
    record = table.pop(record_id, None)
    if record is None:
        raise SalesforceError(404, "ENTITY_IS_DELETED", "entity is deleted")
    for name in UNIQUE_FIELDS:
        if record.get(name):
            org.unique.get((sobject, name), {}).pop(str(record[name]).lower(), None)
    child = CHILD_RELATIONS.get(sobject)
    if child is not None:
        rows = org.table(child[0])
        for child_id in [k for k, r in rows.items() if r.get(child[1]) == record_id]:
            rows.pop(child_id)
