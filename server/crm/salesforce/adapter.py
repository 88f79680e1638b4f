"""SalesforceCRM: the CRM interface over one user's Salesforce login.

Reads are batched (one SOQL statement per object per batch of addresses; several statements in
one Composite call) and cached per organisation; writes live in writes.py; HTTP, budget and
errors in client.py.
"""

from __future__ import annotations

from collections.abc import Callable
from functools import wraps
from typing import TYPE_CHECKING, Any, TypeVar

from flask import current_app
from sqlalchemy import select

from ...db import get_session
from ...http import make_http_session
from ...models.crm_connections import SalesforceConnection
from ..base import (
    CRM,
    Account,
    ActivityDraft,
    ContactDraft,
    CRMAuthError,
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
from . import cards, lookups, removal, writes
from .cache import LookupCache
from .client import SalesforceClient, soql_quote
from .email_roles import with_participant_roles
from .lookups import LEAD_FIELDS
from .records import (
    OPPORTUNITY_FIELDS,
    SOBJECT_OF,
    SalesforceOptions,
    account_from,
    chunks,
    in_list,
    opportunity_from,
    person_from,
    split_name,
    valid_id,
)

if TYPE_CHECKING:
    from ...models.tenancy import User

F = TypeVar("F", bound=Callable[..., Any])


def _persisting(method: F) -> F:
    """After every operation, however it ends, save what changed of the org's budget."""

    @wraps(method)
    def wrapper(self: SalesforceCRM, *args: Any, **kwargs: Any) -> Any:
        try:
            return method(self, *args, **kwargs)
        finally:
            self._after_call()

    return wrapper  # type: ignore[return-value]


class SalesforceCRM(CRM):
    name = "salesforce"

    def __init__(
        self,
        client: SalesforceClient,
        options: SalesforceOptions,
        cache: LookupCache,
        sf_user_id: str,
        sf_org_id: str,
        after_call: Callable[[], None] | None = None,
        user_id: int | None = None,
    ):
        self.client, self.options, self.cache = client, options, cache
        self.sf_user_id = sf_user_id
        # The Courier user whose connection this is (for_user): their Salesforce id is known.
        self._user_id = user_id
        # The ledger's name for this CRM: one Salesforce org, whoever of its users saves.
        self.ledger_target = f"salesforce:{sf_org_id}"
        self._after_call = after_call or (lambda: None)

    @classmethod
    def for_user(cls, user: User) -> SalesforceCRM:
        from ...queues import get_redis
        from .budget_store import load_budget, save_budget
        from .tokens import OAuthSettings, access_token_of, mark_needs_reauth, refresh_access_token

        conn = get_session().scalar(
            select(SalesforceConnection).where(SalesforceConnection.user_id == user.id)
        )
        if conn is None:
            raise CRMAuthError("Salesforce is not connected for this user")
        if conn.needs_reauth:
            raise CRMAuthError("Salesforce needs to be connected again")
        config = current_app.config
        budget, mode_override = load_budget(
            user.org_id,
            conn.sf_org_id,
            config["SALESFORCE_BUDGET_PAUSE_PERCENT"],
            config["SALESFORCE_BUDGET_PAUSE_MINUTES"],
        )
        options = options_from_config(mode_override)
        http = make_http_session(service="salesforce")
        oauth, connection_id = OAuthSettings.from_config(), conn.id

        def on_auth_failure(reason: str) -> None:
            mark_needs_reauth(connection_id, reason)

        client = SalesforceClient(
            conn.instance_url,
            access_token_of(conn),
            http,
            budget,
            refresh=lambda refused: refresh_access_token(connection_id, oauth, http, refused),
            on_auth_failure=on_auth_failure,
            api_version=config["SALESFORCE_API_VERSION"],
            max_retries=config["SALESFORCE_MAX_RETRIES"],
            retry_base_ms=config["SALESFORCE_RETRY_BASE_MS"],
        )
        cache = LookupCache(
            get_redis(), f"{user.org_id}:{conn.sf_org_id}", options.cache_ttl_seconds
        )
        org_id, sf_org_id = user.org_id, conn.sf_org_id
        return cls(
            client,
            options,
            cache,
            conn.sf_user_id,
            sf_org_id,
            lambda: save_budget(org_id, sf_org_id, budget),
            user_id=user.id,
        )

    @_persisting
    def owner_id_for(self, user: User) -> str | None:
        if user.id == self._user_id and self.sf_user_id:
            return self.sf_user_id  # read with the connection by for_user: no second query
        conn = get_session().scalar(
            select(SalesforceConnection).where(SalesforceConnection.user_id == user.id)
        )
        if conn is not None:
            return conn.sf_user_id
        if not user.email:
            return None
        rows = self.client.query(
            f"SELECT Id FROM User WHERE Email = {soql_quote(user.email)} LIMIT 1"
        )
        return rows[0]["Id"] if rows else None

    # --- reads -------------------------------------------------------------------------------

    def _contact_fields(self) -> tuple[str, ...]:
        return lookups.contact_fields(self.options)

    def _account_fields(self) -> tuple[str, ...]:
        return lookups.account_fields(self.options)

    @_persisting
    def find_people(self, emails: list[str]) -> dict[str, list[Person]]:
        return lookups.find_people(self.client, self.options, self.cache, emails)

    @_persisting
    def accounts_by_domains(self, domains: list[str]) -> dict[str, list[Account]]:
        return lookups.accounts_by_domains(self.client, self.options, self.cache, domains)

    @_persisting
    def search(self, text: str, limit: int = 20) -> list[SearchHit]:
        return lookups.search(self.client, text, limit)

    @_persisting
    def opportunities_of(
        self, account_ids: list[str], owner_id: str | None = None
    ) -> list[Opportunity]:
        ids = list(dict.fromkeys(a for a in account_ids or [] if valid_id(a, "account")))
        if not ids:
            return []
        owner = f" AND OwnerId = {soql_quote(owner_id)}" if owner_id else ""
        statements = [
            f"SELECT {', '.join(OPPORTUNITY_FIELDS)} FROM Opportunity "
            f"WHERE AccountId IN {in_list(part)}{owner}"
            for part in chunks(ids)
        ]
        return [opportunity_from(row) for rows in self.client.queries(statements) for row in rows]

    @_persisting
    def get_records(self, refs: list[RecordRef]) -> dict[RecordRef, Record]:
        by_type: dict[str, list[str]] = {}
        for ref in refs:
            if valid_id(ref.id, ref.type):
                by_type.setdefault(ref.type, []).append(ref.id)
        fields = {
            "contact": self._contact_fields(),
            "lead": LEAD_FIELDS,
            "account": self._account_fields(),
            "opportunity": OPPORTUNITY_FIELDS,
        }
        plan = [
            (kind, part)
            for kind, ids in by_type.items()
            for part in chunks(list(dict.fromkeys(ids)))
        ]
        statements = [
            f"SELECT {', '.join(fields[kind])} FROM {SOBJECT_OF[kind]} WHERE Id IN {in_list(part)}"  # type: ignore[index]
            for kind, part in plan
        ]
        found: dict[RecordRef, Record] = {}
        for (kind, _), rows in zip(plan, self.client.queries(statements), strict=True):
            for row in rows:
                record = self._record_from(kind, row)
                found[record.ref] = record
        wanted = {RecordRef(r.type, r.id) for r in refs}
        return {ref: rec for ref, rec in found.items() if ref in wanted or _same_id(ref, wanted)}

    def _record_from(self, kind: str, row: dict) -> Record:
        if kind in ("contact", "lead"):
            return person_from(row, self.options.contact_email_fields)
        if kind == "account":
            return account_from(row, self.options.account_domain_fields)
        return opportunity_from(row)

    # --- creates -------------------------------------------------------------------------------

    def _create_person(
        self, sobject: str, fields: dict, select_fields: tuple[str, ...], address: str
    ) -> Person:
        base = self.client.base_path
        subrequests = [
            {
                "method": "POST",
                "url": f"{base}/sobjects/{sobject}",
                "referenceId": "created",
                "body": fields,
            },
            {
                "method": "GET",
                "referenceId": "row",
                "url": self.client.query_url(
                    f"SELECT {', '.join(select_fields)} FROM {sobject} WHERE Id = '@{{created.id}}'"
                ),
            },
        ]
        answers = self.client.by_reference(self.client.composite(subrequests, write=True))
        self.client.subresult(answers["created"])
        rows = self.client.subresult(answers["row"])["records"]
        self.cache.forget_addresses([address])
        return person_from(rows[0], self.options.contact_email_fields)

    def _account_named(self, company: str, owner_id: str | None) -> str:
        """The Account of this name, or a new one. SOQL's = on a string is case-insensitive
        (https://developer.salesforce.com/docs/atlas.en-us.soql_sosl.meta/soql_sosl/sforce_api_calls_soql_select_comparisonoperators.htm);
        Account.Name holds up to 255 characters (object-account.html)."""
        name = " ".join(company.split())[:255]
        rows = self.client.query(f"SELECT Id FROM Account WHERE Name = {soql_quote(name)} LIMIT 1")
        if rows:
            return rows[0]["Id"]
        fields = {"Name": name, **({"OwnerId": owner_id} if owner_id else {})}
        base = self.client.base_path
        subrequest = {"method": "POST", "url": f"{base}/sobjects/Account", "referenceId": "acct"}
        answers = self.client.by_reference(
            self.client.composite([{**subrequest, "body": fields}], write=True)
        )
        return self.client.subresult(answers["acct"])["id"]

    @_persisting
    def create_contact(self, draft: ContactDraft) -> Person:
        first, last = split_name(draft.name)
        fields = {
            "FirstName": first,
            "LastName": last,
            "Email": draft.email.strip(),
            "Title": draft.title[:128],
        }
        if draft.owner_id:
            fields["OwnerId"] = draft.owner_id
        if draft.account_id:
            fields["AccountId"] = draft.account_id
        elif draft.company.strip():
            fields["AccountId"] = self._account_named(draft.company, draft.owner_id)
        return self._create_person(
            "Contact", fields, self._contact_fields(), draft.email.strip().lower()
        )

    @_persisting
    def create_lead(self, draft: LeadDraft) -> Person:
        first, last = split_name(draft.name)
        fields = {
            "FirstName": first,
            "LastName": last,
            "Email": draft.email.strip(),
            "Company": (draft.company or "[not provided]")[:255],
        }
        # Lead.Status is "Defaulted on create" with org-defined values ("Open - Not Contacted"
        # in a new org, no plain "Open"): our neutral "Open" means the org's default.
        # https://developer.salesforce.com/docs/platform/object-reference/references/standard-objects/object-lead.html
        if draft.status and draft.status != "Open":
            fields["Status"] = draft.status
        if draft.owner_id:
            fields["OwnerId"] = draft.owner_id
        return self._create_person("Lead", fields, LEAD_FIELDS, draft.email.strip().lower())

    # --- activities ------------------------------------------------------------------------------

    @_persisting
    def log_emails(self, drafts: list[ActivityDraft]) -> list[LoggedActivity]:
        if self.options.email_mode == "enhanced":
            drafts = with_participant_roles(
                drafts,
                lambda emails: lookups.find_people(self.client, self.options, self.cache, emails),
            )
        return writes.log_emails(self.client, self.options, drafts)

    @_persisting
    def log_meetings(self, drafts: list[ActivityDraft]) -> list[LoggedActivity]:
        return writes.log_meetings(self.client, self.options, drafts)

    @_persisting
    def find_activities(self, keys: list[str]) -> dict[str, LoggedActivity]:
        return writes.find_activities(self.client, self.options, keys)

    @_persisting
    def unlink_email(self, activity_id: str, refs: list[RecordRef]) -> list[Link]:
        return removal.unlink_email(self.client, self.options, activity_id, refs)

    @_persisting
    def delete_emails(self, activity_ids: list[str]) -> None:
        removal.delete_emails(self.client, self.options, activity_ids)

    @_persisting
    def unlink_meeting(self, activity_id: str, refs: list[RecordRef]) -> list[Link]:
        return removal.unlink_meeting(self.client, self.options, activity_id, refs)

    @_persisting
    def delete_meetings(self, activity_ids: list[str]) -> None:
        removal.delete_meetings(self.client, activity_ids)

    @_persisting
    def person_cards(self, refs: list[RecordRef], recent: int = 5) -> dict[RecordRef, PersonCard]:
        plan = cards.statements(self.options, refs, recent)
        if not plan:
            return {}
        results = self.client.queries([soql for _, soql in plan])
        answers = {what: rows for (what, _), rows in zip(plan, results, strict=True)}
        found = cards.shape(answers, recent, self.client.instance_url)
        wanted = set(refs)
        return {ref: card for ref, card in found.items() if ref in wanted or _same_id(ref, wanted)}


def _same_id(ref: RecordRef, wanted: set[RecordRef]) -> bool:
    # Callers may hold 15-character ids; Salesforce answers with 18.
    return any(w.type == ref.type and len(w.id) == 15 and ref.id.startswith(w.id) for w in wanted)


def options_from_config(mode_override: str = "") -> SalesforceOptions:
    config = current_app.config
    return SalesforceOptions(
        contact_email_fields=tuple(config["SALESFORCE_CONTACT_EMAIL_FIELDS"]),
        account_domain_fields=tuple(config["SALESFORCE_ACCOUNT_DOMAIN_FIELDS"]),
        email_mode=mode_override or config["SALESFORCE_EMAIL_MODE"],
        email_key_field=config["SALESFORCE_EMAIL_KEY_FIELD"],
        activity_key_field=config["SALESFORCE_ACTIVITY_KEY_FIELD"],
        series_key_field=config["SALESFORCE_SERIES_KEY_FIELD"],
        cache_ttl_seconds=config["SALESFORCE_CACHE_TTL_SECONDS"],
    )
