"""A CRM wrapper that counts round trips (for session records and the benchmark)."""

from __future__ import annotations

from typing import Any

from ..crm.base import CRM

# Methods that are local (no round trip to the CRM).
_LOCAL = frozenset({"owner_id_for", "name", "ledger_target"})


class CountingCRM:
    def __init__(self, crm: CRM):
        self._crm = crm
        self.calls = 0
        self.by_method: dict[str, int] = {}

    @property
    def name(self) -> str:
        return self._crm.name

    @property
    def ledger_target(self) -> str:
        return str(getattr(self._crm, "ledger_target", "") or self._crm.name)

    def __getattr__(self, attr: str) -> Any:
        value = getattr(self._crm, attr)
        if attr in _LOCAL or not callable(value):
            return value

        def counted(*args: Any, **kwargs: Any) -> Any:
            self.calls += 1
            self.by_method[attr] = self.by_method.get(attr, 0) + 1
            return value(*args, **kwargs)

        return counted
