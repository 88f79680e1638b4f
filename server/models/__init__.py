"""ORM tables by concern. Importing this package registers every table on Base.metadata."""

from __future__ import annotations

from ..crm.builtin import models as _builtin_crm_models  # noqa: F401
from .ledger import LedgerEntry, ThreadRule
from .tenancy import Organisation, OrgDomain, User

__all__ = ["LedgerEntry", "Organisation", "OrgDomain", "ThreadRule", "User"]
