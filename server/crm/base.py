"""The CRM interface: neutral records, batch-first operations, one small error tree.

Every adapter (built-in, Salesforce, ...) implements `CRM` and must pass the same contract
suite (tests/integration/test_crm_contract.py). Record ids are strings whatever the backend.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from dataclasses import dataclass, field
from datetime import date, datetime
from typing import TYPE_CHECKING, Any, ClassVar, Literal

if TYPE_CHECKING:
    from ..models.tenancy import User

RecordType = Literal["contact", "lead", "account", "opportunity"]
ActivityKind = Literal["email", "meeting"]
Direction = Literal["inbound", "outbound", "internal"]


# --- errors ------------------------------------------------------------------------------


class CRMError(Exception):
    """Base of every error an adapter raises; provider errors are mapped to these."""


class CRMUnavailable(CRMError):
    """Transient: the CRM could not be reached or answered 5xx. Safe to retry later."""


class CRMAuthError(CRMError):
    """The CRM grant was revoked or expired: the user must connect again (needs re-auth)."""


class CRMBudgetExceeded(CRMError):
    """The organisation's API allowance is (nearly) used up: writes are paused."""

    def __init__(self, message: str, resume_at: datetime | None = None):
        super().__init__(message)
        self.resume_at = resume_at


class CRMValidationError(CRMError):
    """The CRM refused the data (missing name, bad address, ...). Not worth retrying."""


class CRMNotFound(CRMError):
    """A record id does not exist, or not in this organisation."""


# --- records -----------------------------------------------------------------------------


@dataclass(frozen=True, order=True)
class RecordRef:
    type: RecordType
    id: str

    def as_dict(self) -> dict[str, str]:
        return {"type": self.type, "id": self.id}


@dataclass
class Person:
    """A contact or a lead."""

    ref: RecordRef
    name: str
    emails: list[str]
    owner_id: str | None = None
    title: str = ""
    account_id: str | None = None
    account_name: str = ""
    company: str = ""
    status: str = ""
    last_activity_at: datetime | None = None
    extra: dict[str, Any] = field(default_factory=dict)


@dataclass
class Account:
    ref: RecordRef
    name: str
    domains: list[str]
    owner_id: str | None = None
    last_activity_at: datetime | None = None
    extra: dict[str, Any] = field(default_factory=dict)


@dataclass
class Opportunity:
    ref: RecordRef
    name: str
    account_id: str
    owner_id: str | None
    stage: str
    is_closed: bool
    amount: float | None = None
    close_date: date | None = None
    last_activity_at: datetime | None = None
    extra: dict[str, Any] = field(default_factory=dict)


Record = Person | Account | Opportunity


@dataclass
class SearchHit:
    ref: RecordRef
    name: str
    subtitle: str = ""


@dataclass
class ContactDraft:
    name: str
    email: str
    owner_id: str | None = None
    title: str = ""
    account_id: str | None = None
    # Without account_id: the contact joins the account of this name (the CRM's own name
    # comparison, case-insensitive in both) or, when none has it, a new account of this name.
    company: str = ""


@dataclass
class LeadDraft:
    name: str
    email: str
    owner_id: str | None = None
    company: str = ""
    status: str = "Open"


# --- activities --------------------------------------------------------------------------


@dataclass(frozen=True)
class Link:
    """A link from an activity to a record, with the record's role in it."""

    ref: RecordRef
    role: str = "related"  # from | to | cc | attendee | organizer | related


@dataclass(frozen=True)
class ActivityParticipant:
    address: str
    name: str = ""
    role: str = "to"  # from | to | cc | bcc | organizer | attendee


@dataclass
class ActivityDraft:
    """An email or meeting to log. `key` is our idempotency key: the internetMessageId (or a
    fingerprint when missing) for an email, the iCalUId for a meeting (for one occurrence of a
    series: rules.keys.occurrence_key)."""

    key: str
    kind: ActivityKind
    subject: str
    start: datetime
    end: datetime | None = None
    body_text: str = ""
    direction: Direction = "inbound"
    conversation_id: str = ""
    participants: list[ActivityParticipant] = field(default_factory=list)
    links: list[Link] = field(default_factory=list)
    owner_id: str | None = None
    cancelled: bool = False
    # A meeting that is one occurrence of a recurring series: the key its series shares
    # (the series master's iCalUId), "" otherwise. `key` stays the occurrence's own key.
    series_key: str = ""
    extra: dict[str, Any] = field(default_factory=dict)


@dataclass
class LoggedActivity:
    id: str
    key: str
    kind: ActivityKind
    created: bool
    links: list[Link]
    added_links: list[Link] = field(default_factory=list)
    subject: str = ""
    cancelled: bool = False


@dataclass
class ActivitySummary:
    """One saved email or meeting as a record card lists it."""

    id: str
    kind: ActivityKind
    subject: str
    at: datetime | None


@dataclass
class PersonCard:
    """What a rep wants to know about a matched person, as the peers' sidebars show it: the
    record's owner, its account, the last interaction, the latest saved activities and the
    account's opportunities (open and closed; the pane folds closed ones away)."""

    ref: RecordRef
    name: str
    owner_id: str | None = None
    owner_name: str = ""
    account_id: str | None = None
    account_name: str = ""
    last_activity_at: datetime | date | None = None
    recent: list[ActivitySummary] = field(default_factory=list)
    opportunities: list[Opportunity] = field(default_factory=list)
    url: str = ""  # the record in the CRM ("open in CRM")
    extra: dict[str, Any] = field(default_factory=dict)


# --- the interface -------------------------------------------------------------------------


class CRM(ABC):
    """One organisation's CRM as one Courier user sees it."""

    name: ClassVar[str]

    @classmethod
    @abstractmethod
    def for_user(cls, user: User) -> CRM:
        """The adapter acting for this user (their organisation, their CRM login)."""

    @abstractmethod
    def owner_id_for(self, user: User) -> str | None:
        """This Courier user's own id in the CRM (record owner), if they have one."""

    @abstractmethod
    def find_people(self, emails: list[str]) -> dict[str, list[Person]]:
        """Contacts and leads by address, in one batch: case-insensitive, any of a contact's
        addresses, every match. Keys are the lower-cased inputs that matched; malformed
        addresses are ignored."""

    @abstractmethod
    def accounts_by_domains(self, domains: list[str]) -> dict[str, list[Account]]:
        """Accounts that own each (lower-cased) domain."""

    @abstractmethod
    def search(self, text: str, limit: int = 20) -> list[SearchHit]:
        """Records whose name, email or company contains the text."""

    @abstractmethod
    def opportunities_of(
        self, account_ids: list[str], owner_id: str | None = None
    ) -> list[Opportunity]:
        """Opportunities of these accounts, optionally only those of one owner."""

    @abstractmethod
    def get_records(self, refs: list[RecordRef]) -> dict[RecordRef, Record]:
        """The records that exist among `refs` (missing ones are left out)."""

    @abstractmethod
    def create_contact(self, draft: ContactDraft) -> Person: ...

    @abstractmethod
    def create_lead(self, draft: LeadDraft) -> Person: ...

    @abstractmethod
    def log_emails(self, drafts: list[ActivityDraft]) -> list[LoggedActivity]:
        """Idempotent by key: a key logged before returns the existing activity with only
        the missing links added. Results are in the order of `drafts`."""

    @abstractmethod
    def log_meetings(self, drafts: list[ActivityDraft]) -> list[LoggedActivity]:
        """Idempotent by key (iCalUId); a repeat also updates subject, times and
        cancellation, and adds missing links."""

    @abstractmethod
    def find_activities(self, keys: list[str]) -> dict[str, LoggedActivity]:
        """Activities already logged under these keys, with their links."""

    @abstractmethod
    def unlink_email(self, activity_id: str, refs: list[RecordRef]) -> list[Link]:
        """Remove the email's links to these records (every role), in the CRM; returns the
        links it still has. CRMValidationError where the CRM cannot drop such a link (each
        adapter documents its limits); CRMNotFound when the email is gone."""

    @abstractmethod
    def delete_emails(self, activity_ids: list[str]) -> None:
        """Delete these logged emails (with their links) from the CRM; ones already gone are
        ignored. Only on a user's explicit "remove from CRM": the sync never deletes."""

    @abstractmethod
    def unlink_meeting(self, activity_id: str, refs: list[RecordRef]) -> list[Link]:
        """As `unlink_email`, for a logged meeting."""

    @abstractmethod
    def delete_meetings(self, activity_ids: list[str]) -> None:
        """As `delete_emails`, for logged meetings (the sync only marks them cancelled)."""

    @abstractmethod
    def person_cards(self, refs: list[RecordRef], recent: int = 5) -> dict[RecordRef, PersonCard]:
        """Cards of these contacts and leads, in one batch (one query round / one API call):
        owner, account, last interaction, up to `recent` latest activities (newest first),
        the account's opportunities. Unknown refs and other record types are left out."""
