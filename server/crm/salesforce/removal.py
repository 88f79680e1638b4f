"""Unlinking records from a logged email and deleting logged emails, in Salesforce. Only on a
user's explicit request from the pane (the sync never deletes).

What Salesforce allows (object reference):
- Enhanced Email: EmailMessageRelation supports delete(), so a contact or lead is unlinked by
  deleting its relation rows. Changing relations of an email that is not a draft needs the
  "Update Email Messages" permission for the API user; without it Salesforce refuses and we
  say so. EmailMessage.RelatedToId (its one account or opportunity) cannot be changed once
  the email is not a draft ("update() is supported when an email record is in Draft status
  ... [otherwise] the IsExternallyVisible field and custom fields only can be updated"), so
  that link cannot be dropped: the user removes the email from the CRM and saves it again.
  https://developer.salesforce.com/docs/atlas.en-us.object_reference.meta/object_reference/sforce_api_objects_emailmessage.htm
  https://developer.salesforce.com/docs/atlas.en-us.object_reference.meta/object_reference/sforce_api_objects_emailmessagerelation.htm
- Task mode: Task.WhoId and Task.WhatId are updatable (set to null), other people are
  TaskRelation rows (delete() supported). An account that comes with the Task's opportunity
  (WhatId) goes only with the opportunity.
- Deleting an EmailMessage or a Task deletes its relation rows with it.
- Meetings (Event): people are EventRelation rows, which support delete() ("This object lets
  you add or remove invitees from an event"); their EventId and RelationId "can't be changed
  after [they've] been specified", so a person is unlinked by deleting the row, never by
  editing it. The account or opportunity is Event.WhatId (updatable, set to null); an account
  that comes with the Event's opportunity goes only with the opportunity, as for a Task.
  Deleting an Event deletes its relations ("If you delete an event, then relations between
  the event and any specified contacts, leads, and other records are also deleted").
  https://developer.salesforce.com/docs/atlas.en-us.object_reference.meta/object_reference/sforce_api_objects_eventattendee.htm
  https://developer.salesforce.com/docs/atlas.en-us.object_reference.meta/object_reference/sforce_api_objects_event.htm
Writes go through Composite (up to 25 subrequests a call), matched by referenceId.
"""

from __future__ import annotations

from typing import Any

from ..base import CRMNotFound, CRMValidationError, Link, RecordRef
from .client import SalesforceClient, soql_quote
from .records import SalesforceOptions, in_list, valid_id
from .writes import find_activities

COMPOSITE_SUBREQUESTS = 25
PERSON_TYPES = ("contact", "lead")


def _enhanced(options: SalesforceOptions) -> bool:
    return options.email_mode == "enhanced"


def _run(client: SalesforceClient, subrequests: list[dict[str, Any]]) -> None:
    """Write subrequests through Composite; a record already deleted is not an error."""
    for start in range(0, len(subrequests), COMPOSITE_SUBREQUESTS):
        chunk = subrequests[start : start + COMPOSITE_SUBREQUESTS]
        answers = client.by_reference(client.composite(chunk, write=True))
        for sub in chunk:
            answer = answers[sub["referenceId"]]
            body = answer.get("body")
            gone = (
                sub["method"] == "DELETE"
                and isinstance(body, list)
                and body
                and isinstance(body[0], dict)
                and body[0].get("errorCode") == "ENTITY_IS_DELETED"
            )
            if not gone:
                client.subresult(answer)


def unlink_email(
    client: SalesforceClient, options: SalesforceOptions, activity_id: str, refs: list[RecordRef]
) -> list[Link]:
    sobject = "EmailMessage" if _enhanced(options) else "Task"
    return _unlink(client, options, sobject, activity_id, refs)


def unlink_meeting(
    client: SalesforceClient, options: SalesforceOptions, activity_id: str, refs: list[RecordRef]
) -> list[Link]:
    return _unlink(client, options, "Event", activity_id, refs)


def _unlink(
    client: SalesforceClient,
    options: SalesforceOptions,
    sobject: str,
    activity_id: str,
    refs: list[RecordRef],
) -> list[Link]:
    enhanced = sobject == "EmailMessage"
    key_field = options.email_key_field if enhanced else options.activity_key_field
    if not valid_id(activity_id):
        raise CRMNotFound(f"no {sobject} {activity_id}")
    people = [r.id for r in refs if r.type in PERSON_TYPES and valid_id(r.id, r.type)]
    others = {r.id for r in refs if r.type not in PERSON_TYPES}
    quoted = soql_quote(activity_id)
    if enhanced:
        head = f"SELECT Id, {key_field}, RelatedToId FROM EmailMessage WHERE Id = {quoted}"
        relations = "EmailMessageRelation WHERE EmailMessageId"
    elif sobject == "Task":
        head = f"SELECT Id, {key_field}, WhoId, WhatId FROM Task WHERE Id = {quoted}"
        relations = "TaskRelation WHERE IsWhat = false AND TaskId"
    else:
        head = f"SELECT Id, {key_field}, WhatId FROM Event WHERE Id = {quoted}"
        relations = "EventRelation WHERE EventId"
    statements = [head]
    if people:
        statements.append(
            f"SELECT Id FROM {relations} = {quoted} AND RelationId IN {in_list(people)}"
        )
    results = client.queries(statements)
    if not results[0]:
        raise CRMNotFound(f"no {sobject} {activity_id}")
    row = results[0][0]
    base = client.base_path
    subrequests = [
        {
            "method": "DELETE",
            "url": f"{base}/sobjects/{relations.split()[0]}/{rel['Id']}",
            "referenceId": f"rel{n}",
        }
        for n, rel in enumerate(results[1] if people else [])
    ]
    what_id = row.get("RelatedToId") if enhanced else row.get("WhatId")
    if others:
        if enhanced:
            raise CRMValidationError(
                "Salesforce keeps the account or opportunity of a sent email (Enhanced Email "
                "can be changed only as a draft): remove the email from the CRM and save it "
                "again with the records you want."
            )
        if what_id not in others:
            raise CRMValidationError(
                f"The account comes with the {'meeting' if sobject == 'Event' else 'email'}'s "
                "opportunity in Salesforce: unlink the opportunity to drop both."
            )
    changes: dict[str, Any] = {}
    if not enhanced:
        if row.get("WhoId") and row.get("WhoId") in people:
            changes["WhoId"] = None
        if what_id and what_id in others:
            changes["WhatId"] = None
    if changes:
        subrequests.append(
            {
                "method": "PATCH",
                "url": f"{base}/sobjects/{sobject}/{activity_id}",
                "referenceId": "parent",
                "body": changes,
            }
        )
    _run(client, subrequests)
    key = row.get(key_field) or ""
    found = find_activities(client, options, [key]) if key else {}
    return list(found[key].links) if key in found else []


def delete_emails(
    client: SalesforceClient, options: SalesforceOptions, activity_ids: list[str]
) -> None:
    _delete(client, "EmailMessage" if _enhanced(options) else "Task", activity_ids)


def delete_meetings(client: SalesforceClient, activity_ids: list[str]) -> None:
    _delete(client, "Event", activity_ids)


def _delete(client: SalesforceClient, sobject: str, activity_ids: list[str]) -> None:
    ids = list(dict.fromkeys(i for i in activity_ids if valid_id(i)))
    _run(
        client,
        [
            {
                "method": "DELETE",
                "url": f"{client.base_path}/sobjects/{sobject}/{record_id}",
                "referenceId": f"d{n}",
            }
            for n, record_id in enumerate(ids)
        ],
    )
