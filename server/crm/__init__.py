"""CRM ports: the interface (base.py), the adapters, and the registry naming them."""

from __future__ import annotations

from typing import TYPE_CHECKING

from .base import CRM

if TYPE_CHECKING:
    from ..models.tenancy import User


def adapters() -> dict[str, type[CRM]]:
    """The registry: adapter name -> class. Imported lazily so no adapter loads at import."""
    from .builtin.adapter import BuiltinCRM
    from .salesforce import SalesforceCRM

    return {"builtin": BuiltinCRM, "salesforce": SalesforceCRM}


def crm_for(user: User, adapter: str | None = None) -> CRM:
    """The CRM adapter for this user: the organisation's choice, else the configured one."""
    from flask import current_app

    name = adapter or current_app.config["CRM_ADAPTER"]
    try:
        cls = adapters()[name]
    except KeyError:
        raise ValueError(f"unknown CRM adapter {name!r}") from None
    return cls.for_user(user)
