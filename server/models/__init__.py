"""ORM tables by concern. Importing this package registers every table on Base.metadata."""

from __future__ import annotations

from ..crm.builtin import models as _builtin_crm_models  # noqa: F401
from .admin import AuditEvent, DirectoryMember
from .app_scope import AppScopeChoice, AppScopePick
from .connections import AppTokenCache, MicrosoftConnection, OrgAllowedUser
from .crm_connections import SalesforceConnection, SalesforceOrgState
from .keys import EncryptionKeyRecord
from .ledger import LedgerEntry, ThreadRule
from .policy import OrgPolicy, RememberedChoice, UserPolicy
from .schedule import SyncSchedule
from .sessions import ApiSession
from .sync import CalendarEventKey, GraphSubscription, MeetingSnapshot, SyncSession, SyncState
from .sync_summary import UserSyncSummary
from .tenancy import Organisation, OrgDomain, User

__all__ = [
    "AppScopeChoice",
    "AppScopePick",
    "ApiSession",
    "AuditEvent",
    "DirectoryMember",
    "AppTokenCache",
    "EncryptionKeyRecord",
    "MicrosoftConnection",
    "OrgAllowedUser",
    "LedgerEntry",
    "Organisation",
    "OrgDomain",
    "OrgPolicy",
    "RememberedChoice",
    "ThreadRule",
    "User",
    "UserSyncSummary",
    "UserPolicy",
    "SalesforceConnection",
    "SalesforceOrgState",
    "CalendarEventKey",
    "GraphSubscription",
    "MeetingSnapshot",
    "SyncSchedule",
    "SyncSession",
    "SyncState",
]
