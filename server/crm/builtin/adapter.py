"""The built-in CRM adapter: the CRM interface over Courier's own database tables."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from typing import TYPE_CHECKING, ClassVar

from sqlalchemy import func, select
from sqlalchemy.exc import (
    DataError,
    DBAPIError,
    DisconnectionError,
    IntegrityError,
    OperationalError,
    SQLAlchemyError,
)
from sqlalchemy.orm import Session

from ...mail.base import parse_participant
from ..base import (
    CRM,
    Account,
    ActivityDraft,
    ContactDraft,
    CRMError,
    CRMNotFound,
    CRMUnavailable,
    CRMValidationError,
    LeadDraft,
    Link,
    LoggedActivity,
    Opportunity,
    Person,
    PersonCard,
    Record,
    RecordRef,
    SearchHit,
)
from . import activities, cards, people, records, removal, search
from .models import CrmAccount, CrmContact, CrmContactEmail, CrmLead

if TYPE_CHECKING:
    from ...models.tenancy import User

MAX_NAME = 255


@contextmanager
def _mapped_errors() -> Iterator[None]:
    """Database errors become the CRM error tree (the session then needs a rollback)."""
    try:
        yield
    except CRMError:
        raise
    except (OperationalError, DisconnectionError) as exc:
        # Lost connection, lock timeout, SQLite "database is locked": worth retrying.
        raise CRMUnavailable(
            f"the built-in CRM database is unavailable: {type(exc).__name__}"
        ) from exc
    except (IntegrityError, DataError) as exc:
        raise CRMValidationError(
            f"the built-in CRM refused the data: {type(exc).__name__}"
        ) from exc
    except (DBAPIError, SQLAlchemyError) as exc:
        raise CRMError(f"built-in CRM error: {type(exc).__name__}") from exc


class BuiltinCRM(CRM):
    """One organisation's built-in CRM, in Courier's database.

    Transactions: the adapter writes through the given session and flushes, but never
    commits. The caller commits (or rolls back), so a save can commit its ledger row and the
    CRM activity in one transaction. After a raised CRMError the session must be rolled back.
    """

    name: ClassVar[str] = "builtin"

    def __init__(self, session: Session, org_id: int):
        self.session = session
        self.org_id = org_id

    @classmethod
    def for_user(cls, user: User) -> BuiltinCRM:
        from ...db import get_session

        return cls(get_session(), user.org_id)

    def owner_id_for(self, user: User) -> str | None:
        return str(user.id)

    # --- reads -----------------------------------------------------------------------------

    def find_people(self, emails: list[str]) -> dict[str, list[Person]]:
        with _mapped_errors():
            return people.find_people(self.session, self.org_id, emails)

    def accounts_by_domains(self, domains: list[str]) -> dict[str, list[Account]]:
        with _mapped_errors():
            return records.accounts_by_domains(self.session, self.org_id, domains)

    def search(self, text: str, limit: int = 20) -> list[SearchHit]:
        with _mapped_errors():
            return search.search(self.session, self.org_id, text, limit)

    def opportunities_of(
        self, account_ids: list[str], owner_id: str | None = None
    ) -> list[Opportunity]:
        with _mapped_errors():
            return records.opportunities_of(self.session, self.org_id, account_ids, owner_id)

    def get_records(self, refs: list[RecordRef]) -> dict[RecordRef, Record]:
        with _mapped_errors():
            return records.get_records(self.session, self.org_id, refs)

    def find_activities(self, keys: list[str]) -> dict[str, LoggedActivity]:
        with _mapped_errors():
            return activities.find_activities(self.session, self.org_id, keys)

    def unlink_email(self, activity_id: str, refs: list[RecordRef]) -> list[Link]:
        with _mapped_errors():
            return removal.unlink(self.session, self.org_id, activity_id, refs, "email")

    def delete_emails(self, activity_ids: list[str]) -> None:
        with _mapped_errors():
            removal.delete_activities(self.session, self.org_id, activity_ids, "email")

    def unlink_meeting(self, activity_id: str, refs: list[RecordRef]) -> list[Link]:
        with _mapped_errors():
            return removal.unlink(self.session, self.org_id, activity_id, refs, "meeting")

    def delete_meetings(self, activity_ids: list[str]) -> None:
        with _mapped_errors():
            removal.delete_activities(self.session, self.org_id, activity_ids, "meeting")

    def person_cards(self, refs: list[RecordRef], recent: int = 5) -> dict[RecordRef, PersonCard]:
        with _mapped_errors():
            return cards.person_cards(self.session, self.org_id, refs, recent)

    # --- writes ----------------------------------------------------------------------------

    def create_contact(self, draft: ContactDraft) -> Person:
        name, email = self._name_and_email(draft.name, draft.email)
        with _mapped_errors():
            account_id = None
            if draft.account_id is not None:
                account_id = records.record_id(draft.account_id)
                found = account_id and self.session.scalar(
                    select(CrmAccount.id).where(
                        CrmAccount.org_id == self.org_id, CrmAccount.id == account_id
                    )
                )
                if not found:
                    raise CRMNotFound(f"no account {draft.account_id} in this organisation")
            elif draft.company.strip():
                account_id = self._account_named(draft.company, draft.owner_id)
            contact = CrmContact(
                org_id=self.org_id,
                name=name,
                title=(draft.title or "")[:MAX_NAME],
                account_id=account_id,
                owner_id=draft.owner_id,
            )
            self.session.add(contact)
            self.session.flush()
            self.session.add(
                CrmContactEmail(org_id=self.org_id, contact_id=contact.id, email=email)
            )
            self.session.flush()
            return records.contacts_by_ids(self.session, self.org_id, [contact.id])[contact.id]

    def _account_named(self, company: str, owner_id: str | None) -> int:
        """The account of this name (case-insensitive; the oldest when several), or a new one."""
        name = " ".join(company.split())[:MAX_NAME]
        found = self.session.scalar(
            select(CrmAccount.id)
            .where(CrmAccount.org_id == self.org_id, func.lower(CrmAccount.name) == name.lower())
            .order_by(CrmAccount.id)
            .limit(1)
        )
        if found is not None:
            return found
        account = CrmAccount(org_id=self.org_id, name=name, owner_id=owner_id)
        self.session.add(account)
        self.session.flush()
        return account.id

    def create_lead(self, draft: LeadDraft) -> Person:
        name, email = self._name_and_email(draft.name, draft.email)
        with _mapped_errors():
            lead = CrmLead(
                org_id=self.org_id,
                name=name,
                email=email,
                company=(draft.company or "")[:MAX_NAME],
                status=(draft.status or "Open")[:40],
                owner_id=draft.owner_id,
                converted=False,
            )
            self.session.add(lead)
            self.session.flush()
            return records.lead_person(lead)

    def log_emails(self, drafts: list[ActivityDraft]) -> list[LoggedActivity]:
        with _mapped_errors():
            return activities.log_activities(self.session, self.org_id, drafts, "email")

    def log_meetings(self, drafts: list[ActivityDraft]) -> list[LoggedActivity]:
        with _mapped_errors():
            return activities.log_activities(self.session, self.org_id, drafts, "meeting")

    @staticmethod
    def _name_and_email(name: str, email: str) -> tuple[str, str]:
        clean_name = " ".join(str(name or "").split())[:MAX_NAME]
        if not clean_name:
            raise CRMValidationError("a name is required")
        participant = parse_participant(email)
        if not participant.valid:
            raise CRMValidationError("a valid email address is required")
        return clean_name, participant.address
