"""The roles of people linked to an Enhanced Email, from the email itself.

Salesforce relates a person to an EmailMessage only as its sender or a recipient
(EmailMessageRelation.RelationType is the restricted picklist FromAddress, ToAddress, CcAddress,
BccAddress). Links that arrive without such a role (a thread rule or a search in the pane
carries records, not roles) get the role of the person's address on this email; a person who
is not on it keeps "related", which shapes.Spec.stored_link then leaves out.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import replace

from ..base import ActivityDraft, Link, Person, RecordRef

EMAIL_ROLES = ("from", "to", "cc", "bcc")
PERSON_TYPES = ("contact", "lead")


def _needs_role(link: Link) -> bool:
    return link.ref.type in PERSON_TYPES and link.role not in EMAIL_ROLES


def with_participant_roles(
    drafts: list[ActivityDraft], find_people: Callable[[list[str]], dict[str, list[Person]]]
) -> list[ActivityDraft]:
    """`drafts` with each role-less person link given its address's role on that email.
    `find_people` is the adapter's cached lookup (the sync has just looked these addresses
    up, so this costs no API call there)."""
    waiting = [d for d in drafts if any(_needs_role(link) for link in d.links)]
    if not waiting:
        return drafts
    addresses = sorted({p.address.lower() for d in waiting for p in d.participants if p.address})
    people = find_people(addresses) if addresses else {}
    out = []
    for draft in drafts:
        if not any(_needs_role(link) for link in draft.links):
            out.append(draft)
            continue
        role_of: dict[RecordRef, str] = {}
        for participant in draft.participants:
            if participant.role not in EMAIL_ROLES:
                continue
            for person in people.get(participant.address.lower(), []):
                role_of.setdefault(person.ref, participant.role)
        links = [
            Link(link.ref, role_of[link.ref]) if _needs_role(link) and link.ref in role_of else link
            for link in draft.links
        ]
        out.append(replace(draft, links=links))
    return out
