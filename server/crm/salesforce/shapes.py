"""How a neutral activity becomes Salesforce records (pure): EmailMessage or Task for an email,
Event for a meeting, and the relation records that link people to them."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import timedelta
from typing import Any

from ..base import ActivityDraft, Link
from .activity_read import CANCELLED_PREFIX, RELATION_OF_ROLE, sf_key
from .records import SalesforceOptions, valid_id

SUBJECT_LIMIT = 255
BODY_LIMIT = 32_000
ADDRESS_LIST_LIMIT = 4_000
MARKER = "\n\n[Truncated by Courier: {n} more characters were not saved]"
JUNCTION_OF_ROLE = {"to": "ToIds", "cc": "CcIds", "bcc": "BccIds"}
MAX_TASK_CONTACTS = 50


def truncate(text: str, limit: int) -> str:
    """At most `limit` characters; a cut body says so visibly."""
    text = text or ""
    if len(text) <= limit:
        return text
    marker = MARKER.format(n=len(text) - limit)
    while True:  # the count's own digits change the room left for text: settle it
        again = MARKER.format(n=len(text) - (limit - len(marker)))
        if len(again) == len(marker):
            return text[: limit - len(again)] + again
        marker = again


def short(text: str, limit: int) -> str:
    text = " ".join((text or "").split())
    return text if len(text) <= limit else text[: limit - 1] + "…"


@dataclass
class Plan:
    """One key of a batch: its first draft and every valid link asked for it."""

    key: str
    draft: ActivityDraft
    links: list[Link] = field(default_factory=list)

    @property
    def persons(self) -> list[Link]:
        return [link for link in self.links if link.ref.type in ("contact", "lead")]

    @property
    def what_id(self) -> str | None:
        """The one record Salesforce relates an activity to: an opportunity before an account."""
        for kind in ("opportunity", "account"):
            for link in self.links:
                if link.ref.type == kind:
                    return link.ref.id
        return None


def plans_of(drafts: list[ActivityDraft]) -> dict[str, Plan]:
    plans: dict[str, Plan] = {}
    for draft in drafts:
        key = sf_key(draft.key)
        plan = plans.setdefault(key, Plan(key, draft))
        plan.draft = draft  # the latest version (a meeting's newest subject and times)
        for link in draft.links:
            if valid_id(link.ref.id, link.ref.type) and link not in plan.links:
                plan.links.append(link)
    return plans


def _addresses(draft: ActivityDraft, role: str) -> str:
    return short(
        "; ".join(p.address for p in draft.participants if p.role == role), ADDRESS_LIST_LIMIT
    )


def _owner(draft: ActivityDraft) -> dict[str, str]:
    return (
        {"OwnerId": draft.owner_id}
        if draft.owner_id and valid_id(draft.owner_id) and draft.owner_id.startswith("005")
        else {}
    )


@dataclass(frozen=True)
class Spec:
    """One way of writing an activity: the parent object and its relation object."""

    sobject: str
    relation_sobject: str
    parent_field: str
    key_field: str
    series_field: str = ""  # Event: where an occurrence's series key goes ("" for none)

    def record(self, plan: Plan) -> dict[str, Any]:
        draft = plan.draft
        body: dict[str, Any] = {"attributes": {"type": self.sobject}, self.key_field: plan.key}
        if self.sobject == "EmailMessage":
            sender = next((p for p in draft.participants if p.role == "from"), None)
            body |= {
                "MessageIdentifier": plan.key,
                "Subject": short(draft.subject, SUBJECT_LIMIT),
                "TextBody": truncate(draft.body_text, BODY_LIMIT),
                "MessageDate": draft.start.isoformat(),
                "Status": "1" if draft.direction == "inbound" else "3",
                "Incoming": draft.direction == "inbound",
                "FromAddress": sender.address if sender else "",
                "FromName": short(sender.name, 1_000) if sender else "",
                "ToAddress": _addresses(draft, "to"),
                "CcAddress": _addresses(draft, "cc"),
            }
            for role, junction in JUNCTION_OF_ROLE.items():
                ids = [link.ref.id for link in plan.persons if link.role == role]
                if ids:
                    body[junction] = ids
            if plan.what_id:
                body["RelatedToId"] = plan.what_id
            return body
        body |= {"Description": truncate(draft.body_text, BODY_LIMIT), **_owner(draft)}
        if plan.what_id:
            body["WhatId"] = plan.what_id
        if self.sobject == "Task":
            body |= {
                "Subject": short(draft.subject, SUBJECT_LIMIT),
                "TaskSubtype": "Email",
                "Status": "Completed",
                "ActivityDate": draft.start.date().isoformat(),
            }
            people = self.persons(plan)
            if people:
                body["WhoId"] = people[0].ref.id
            return body
        if self.series_field and draft.series_key:
            # One Event per occurrence (Salesforce's own recurring Events cannot take our
            # exceptions one by one); the series key lets a report group them.
            body[self.series_field] = sf_key(draft.series_key)
        return body | self.meeting_fields(draft)

    @staticmethod
    def meeting_fields(draft: ActivityDraft) -> dict[str, Any]:
        subject = (CANCELLED_PREFIX if draft.cancelled else "") + (draft.subject or "")
        end = (
            draft.end
            if draft.end and draft.end > draft.start
            else draft.start + timedelta(minutes=30)
        )
        return {
            "Subject": short(subject, SUBJECT_LIMIT),
            "StartDateTime": draft.start.isoformat(),
            "EndDateTime": end.isoformat(),
        }

    def parent_links(self, plan: Plan) -> list[Link]:
        """Links the parent record itself carries (created with it)."""
        if self.sobject == "EmailMessage":
            return [link for link in plan.persons if link.role in JUNCTION_OF_ROLE]
        if self.sobject == "Task" and self.persons(plan):
            return [self.persons(plan)[0]]
        return []

    def persons(self, plan: Plan) -> list[Link]:
        """The person links Salesforce can hold. A Task relates (Shared Activities) to up to 50
        contacts or one lead; an Event takes leads as invitees only; an EmailMessage only its
        sender and recipients (see `stored_link`)."""
        if self.sobject == "EmailMessage":
            return [link for link in plan.persons if link.role in RELATION_OF_ROLE]
        if self.sobject != "Task":
            return plan.persons
        contacts = [link for link in plan.persons if link.ref.type == "contact"]
        return contacts[:MAX_TASK_CONTACTS] if contacts else plan.persons[:1]

    def relation(self, parent_id: str, link: Link) -> dict[str, Any]:
        """The relation record for a person link the parent does not carry."""
        body: dict[str, Any] = {
            "attributes": {"type": self.relation_sobject},
            self.parent_field: parent_id,
            "RelationId": link.ref.id,
        }
        if self.relation_sobject == "EmailMessageRelation":
            body["RelationType"] = RELATION_OF_ROLE[link.role]  # persons() kept only these
        elif self.relation_sobject == "EventRelation":
            # Contacts are the event's "who" (IsParent); a lead can only be an invitee there.
            contact = link.ref.type == "contact"
            body |= {"IsParent": contact, "IsInvitee": link.role == "attendee" or not contact}
        else:
            body["IsWhat"] = False
        return body

    def stored_link(self, link: Link) -> Link | None:
        """The link as Salesforce will give it back (roles it cannot keep become "related"), or
        None when Salesforce cannot hold it at all.

        An Enhanced Email holds people only as EmailMessageRelation rows, whose RelationType
        is a restricted picklist (FromAddress, ToAddress, CcAddress, BccAddress), and one
        non-person record in RelatedToId (an account or opportunity here); the Task Salesforce
        creates for it (ActivityId) can't be set or related to others through the API except
        for cases. So a person linked to an email who is not its sender or a recipient cannot
        be related to it without a false role: we leave that link out and report only what is
        stored (orgs that need such links log emails as Tasks, whose TaskRelation takes any
        contact). Sources: object reference, EmailMessage and EmailMessageRelation,
        https://developer.salesforce.com/docs/atlas.en-us.object_reference.meta/object_reference/sforce_api_objects_emailmessagerelation.htm
        """
        if self.relation_sobject == "EmailMessageRelation":
            if link.ref.type not in ("contact", "lead") or link.role in RELATION_OF_ROLE:
                return link
            return None
        if self.relation_sobject == "EventRelation":
            invitee = link.role == "attendee" or link.ref.type == "lead"
            return Link(link.ref, "attendee" if invitee else "related")
        return Link(link.ref, "related")


def spec_for(options: SalesforceOptions, kind: str) -> Spec:
    if kind == "meeting":
        return Spec(
            "Event",
            "EventRelation",
            "EventId",
            options.activity_key_field,
            options.series_key_field,
        )
    if options.email_mode == "task":
        return Spec("Task", "TaskRelation", "TaskId", options.activity_key_field)
    return Spec("EmailMessage", "EmailMessageRelation", "EmailMessageId", options.email_key_field)
