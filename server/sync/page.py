"""What one page of mail or calendar produced, and an item planned for saving."""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field

from ..crm.base import ActivityDraft
from ..mail.base import Event, Message


@dataclass
class PageResult:
    read: int = 0
    saved: int = 0
    created: int = 0
    errors: int = 0
    counts: Counter = field(default_factory=Counter)

    @property
    def skipped(self) -> int:
        return sum(self.counts.values())


@dataclass
class Planned:
    item: Message | Event
    key: str
    draft: ActivityDraft
    source: str
    participants: list[str]
