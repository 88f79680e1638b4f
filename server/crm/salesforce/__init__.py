"""The Salesforce connector: adapter (the CRM interface), client (HTTP, budget, errors),
connect (OAuth web-server flow with PKCE), writes (activities exactly once)."""

from __future__ import annotations

from .adapter import SalesforceCRM

__all__ = ["SalesforceCRM"]
