"""Rule preview: how many already-saved items a proposed policy would have excluded.

Works from the ledger's stored participants and subject (headers and folders of past items
are not kept), so it covers the participant and subject rules: exclusions, blocklists,
internal-only, personal-only, role and tool addresses, keywords, meetings on/off.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Mapping
from typing import Any

from sqlalchemy import select

from ..db import get_session
from ..errors import ApiError
from ..mail.base import Attendee, Event, Message, Participant
from ..models.ledger import LedgerEntry
from ..models.tenancy import User
from ..rules.policy import BLOCKED, Policy
from ..rules.screening import screen
from .merge import build_policy
from .store import deployment_defaults, effective_policy, org_domains, org_settings
from .validation import SettingsError, validate_settings

SAMPLE_SIZE = 10  # newly excluded items shown with a preview


def ledger_item(entry: LedgerEntry) -> Message | Event:
    """A minimal email or meeting rebuilt from a ledger row."""
    people = [
        Participant(address=a, valid="@" in a)
        for a in dict.fromkeys(entry.participants or [])
        if isinstance(a, str)
    ]
    if entry.kind == "meeting":
        return Event(
            id=str(entry.id),
            ical_uid=entry.item_key,
            subject=entry.subject or "",
            attendees=[Attendee(p) for p in people],
        )
    return Message(
        id=str(entry.id), internet_message_id=entry.item_key, subject=entry.subject or "", to=people
    )


class _Policies:
    """Current and proposed Policy per user, built once per user."""

    def __init__(
        self,
        org_id: int,
        org_changes: Mapping[str, Any],
        user_changes: Mapping[int, Mapping[str, Any]],
    ):
        self.org_id, self.org_changes, self.user_changes = org_id, org_changes, user_changes
        self.cache: dict[int | None, tuple[Policy, Policy]] = {}

    def get(self, user_id: int | None) -> tuple[Policy, Policy]:
        if user_id not in self.cache:
            user = get_session().get(User, user_id) if user_id is not None else None
            if user is None or user.org_id != self.org_id:
                # The item's user is gone: the organisation's settings alone.
                settings = org_settings(self.org_id)
                proposed = {**settings, **self.org_changes}
                domains = org_domains(self.org_id)
                current_policy = build_policy(
                    settings, org_domains=domains, defaults=deployment_defaults()
                )
                proposed_policy = build_policy(
                    {k: v for k, v in proposed.items() if v is not None},
                    org_domains=domains,
                    defaults=deployment_defaults(),
                )
            else:
                current_policy = effective_policy(user)
                proposed_policy = effective_policy(
                    user,
                    org_overrides=self.org_changes,
                    user_overrides=self.user_changes.get(user.id),
                )
            self.cache[user_id] = (current_policy, proposed_policy)
        return self.cache[user_id]


def _run(org_id: int, policies: _Policies, user_id: int | None = None) -> dict[str, Any]:
    query = select(LedgerEntry).where(LedgerEntry.org_id == org_id, LedgerEntry.status == "saved")
    if user_id is not None:
        query = query.where(LedgerEntry.user_id == user_id)
    total = would_skip = newly_skipped = would_unlink = 0
    by_reason: Counter[str] = Counter()
    # With the rule's detail (which keyword, which address), so the words name it.
    by_detail: Counter[tuple[str, str]] = Counter()
    sample: list[dict[str, Any]] = []
    for entry in get_session().scalars(query.execution_options(yield_per=1000)):
        current, proposed = policies.get(entry.user_id)
        item = ledger_item(entry)
        after = screen(item, proposed)
        total += 1
        if not after.keep:
            would_skip += 1
            by_reason[after.reason] += 1
            by_detail[(after.reason, after.detail or "")] += 1
            if screen(item, current).keep:
                newly_skipped += 1
                if len(sample) < SAMPLE_SIZE:
                    sample.append(_sample(entry, after.reason, after.detail or ""))
        elif BLOCKED in after.participants.values():
            before = screen(item, current)
            if after.addresses_of(BLOCKED) != before.addresses_of(BLOCKED):
                would_unlink += 1
    return {
        "total": total,
        "would_skip": would_skip,
        "newly_skipped": newly_skipped,
        "would_unlink": would_unlink,
        "by_reason": dict(sorted(by_reason.items())),
        "by_reason_detail": [
            {"reason": reason, "detail": detail, "count": count}
            for (reason, detail), count in sorted(by_detail.items())
        ],
        "sample": sample,
        "basis": "participants and subject of saved items",
    }


def _sample(entry: LedgerEntry, reason: str, detail: str = "") -> dict[str, Any]:
    """A saved item the change would newly exclude, as the admin sees it in the preview."""
    return {
        "kind": entry.kind,
        "subject": entry.subject or "",
        "at": entry.item_at.isoformat() if entry.item_at else None,
        "reason": reason,
        "detail": detail,
        "user_id": entry.user_id,
    }


def _checked(changes: Mapping[str, Any], level: str) -> dict[str, Any]:
    try:
        return validate_settings(changes, level)
    except SettingsError as exc:
        raise ApiError(400, "invalid_policy", str(exc), errors=exc.errors) from None


def preview_org_policy(org_id: int, changes: Mapping[str, Any]) -> dict[str, Any]:
    """Counts over the organisation's saved items: `would_skip` by the proposed policy (by
    reason), `newly_skipped` of those that the current policy keeps, `would_unlink` kept
    items in which a participant would newly be blocked."""
    return _run(org_id, _Policies(org_id, _checked(changes, "org"), {}))


def preview_user_policy(user: User, changes: Mapping[str, Any]) -> dict[str, Any]:
    """The same counts over the user's own saved items, for changes to their own settings."""
    policies = _Policies(user.org_id, {}, {user.id: _checked(changes, "user")})
    return _run(user.org_id, policies, user_id=user.id)
