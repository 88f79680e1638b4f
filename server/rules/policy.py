"""The effective data-control policy of one user: plain, frozen data with precomputed sets.

Built by server/policy (organisation settings merged with the user's own) or directly in
tests. `classify(address)` answers what kind of participant an address is; the answer is
cached per policy because a mailbox sees the same people again and again.
"""

from __future__ import annotations

import fnmatch
import re
from collections.abc import Iterable
from dataclasses import dataclass, field
from functools import lru_cache
from typing import TYPE_CHECKING, Any

from . import defaults
from .domains import in_domains, normalise_domains, parents, registrable_domain, registrable_set

if TYPE_CHECKING:
    from ..mail.base import Participant

# Participant classes, from the most to the least decisive.
INVALID = "invalid"
EXCLUDED = "excluded"
BLOCKED = "blocked"
INTERNAL = "internal"
IGNORED = "ignored"
TOOL = "tool"
ROLE = "role"
PERSONAL = "personal"
EXTERNAL = "external"
CLASSES = (EXTERNAL, INTERNAL, IGNORED, ROLE, TOOL, PERSONAL, BLOCKED, EXCLUDED, INVALID)

_CACHE_LIMIT = 50_000


def _addresses(values: Any) -> frozenset[str]:
    return frozenset(str(v).strip().lower() for v in values or () if v and str(v).strip())


def _texts(values: Any) -> tuple[str, ...]:
    return tuple(dict.fromkeys(str(v).strip().casefold() for v in values or () if str(v).strip()))


@dataclass(frozen=True)
class ToolPatterns:
    """Tool address patterns split so that most lookups are set or prefix checks."""

    addresses: frozenset[str] = frozenset()
    domains: frozenset[str] = frozenset()
    local_prefixes: tuple[str, ...] = ()
    other: re.Pattern[str] | None = None

    @classmethod
    def compile(cls, patterns: tuple[str, ...]) -> ToolPatterns:
        addresses, domains, prefixes, other = set(), set(), [], []
        for raw in patterns:
            pattern = raw.strip().lower()
            local, _, domain = pattern.rpartition("@")
            if "*" not in pattern and "?" not in pattern:
                addresses.add(pattern)
            elif local == "*" and domain and not set("*?[") & set(domain):
                domains.add(domain)
            elif domain == "*" and local.endswith("*") and not set("*?[") & set(local[:-1]):
                prefixes.append(local[:-1])
            else:
                other.append(fnmatch.translate(pattern))
        regex = re.compile("|".join(f"(?:{p})" for p in other)) if other else None
        return cls(frozenset(addresses), frozenset(domains), tuple(prefixes), regex)

    def match(self, address: str, local: str, domain: str) -> bool:
        return in_domains(domain, self.domains) or self.match_address(address, local)

    def match_address(self, address: str, local: str) -> bool:
        """The checks that do not depend on the domain alone."""
        if address in self.addresses:
            return True
        if self.local_prefixes and local.startswith(self.local_prefixes):
            return True
        return bool(self.other is not None and self.other.match(address))


@dataclass(frozen=True)
class Policy:
    # Who is "us": the organisation's domains (registrable-domain aware) and the user's own
    # addresses and aliases (always internal, never matched as customers).
    internal_domains: frozenset[str] = frozenset()
    own_addresses: frozenset[str] = frozenset()
    # Colleagues' addresses outside the organisation's domains (aliases on other domains).
    colleague_addresses: frozenset[str] = frozenset()
    # Count as internal.
    ignored_addresses: frozenset[str] = frozenset()
    ignored_domains: frozenset[str] = frozenset()
    # Organisation + user lists, added up: a blocked participant is never linked.
    blocked_addresses: frozenset[str] = frozenset()
    blocked_domains: frozenset[str] = frozenset()
    # Any participant on it drops the whole item.
    excluded_addresses: frozenset[str] = frozenset()
    excluded_domains: frozenset[str] = frozenset()
    subject_keywords: tuple[str, ...] = defaults.SUBJECT_KEYWORDS
    personal_domains: frozenset[str] = frozenset(defaults.PERSONAL_DOMAINS)
    role_local_parts: frozenset[str] = frozenset(defaults.ROLE_LOCAL_PARTS)
    tool_patterns: tuple[str, ...] = defaults.TOOL_ADDRESS_PATTERNS
    automated_local_parts: frozenset[str] = frozenset(defaults.AUTOMATED_LOCAL_PARTS)
    folders: tuple[str, ...] = defaults.DEFAULT_FOLDERS
    history_days: int = defaults.HISTORY_DAYS
    sync_interval_minutes: int = defaults.SYNC_INTERVAL_MINUTES
    auto_save: str = defaults.AUTO_SAVE
    link_to_opportunities: bool = True
    auto_create: bool = False
    meetings_enabled: bool = True
    appointments_enabled: bool = False
    # Calendar sensitivities never saved; "private" is always among them.
    private_sensitivities: frozenset[str] = frozenset(defaults.PRIVATE_SENSITIVITIES)
    match_by_domain: bool = False
    only_my_records: bool = False
    # Rule switches.
    rule_automated: bool = True
    rule_role_addresses: bool = True
    rule_tools: bool = True
    rule_internal_only: bool = True
    rule_personal_only: bool = True

    _tools: ToolPatterns = field(init=False, repr=False, compare=False, hash=False)
    folder_keys: frozenset[str] = field(init=False, repr=False, compare=False, hash=False)
    _cache: dict[str, str] = field(init=False, repr=False, compare=False, hash=False)
    _senders: dict[str, bool] = field(init=False, repr=False, compare=False, hash=False)
    _domains: dict[str, tuple] = field(init=False, repr=False, compare=False, hash=False)

    def __post_init__(self) -> None:
        # Accept any iterables and normalise once, so lookups are plain set membership.
        put = object.__setattr__
        put(self, "internal_domains", registrable_set(self.internal_domains))
        for name in ("ignored_domains", "blocked_domains", "excluded_domains", "personal_domains"):
            put(self, name, normalise_domains(getattr(self, name)))
        for name in (
            "own_addresses",
            "colleague_addresses",
            "ignored_addresses",
            "blocked_addresses",
            "excluded_addresses",
            "role_local_parts",
            "automated_local_parts",
        ):
            put(self, name, _addresses(getattr(self, name)))
        put(self, "private_sensitivities", _addresses(self.private_sensitivities) | {"private"})
        put(self, "subject_keywords", _texts(self.subject_keywords))
        put(self, "tool_patterns", tuple(str(p).strip().lower() for p in self.tool_patterns))
        put(self, "folders", tuple(dict.fromkeys(folder_key(f) for f in self.folders if f)))
        put(self, "_tools", ToolPatterns.compile(self.tool_patterns))
        put(self, "folder_keys", frozenset(self.folders))
        put(self, "_cache", {})
        put(self, "_senders", {})
        put(self, "_domains", {})

    # --- questions the rules ask ---------------------------------------------------------

    def is_internal_domain(self, domain: str) -> bool:
        if not self.internal_domains or not domain:
            return False
        return in_domains(domain, self.internal_domains) or (
            registrable_domain(domain) in self.internal_domains
        )

    def is_automated_local(self, local: str) -> bool:
        base = local.split("+", 1)[0]
        return (
            base in self.automated_local_parts
            or local.startswith(defaults.AUTOMATED_LOCAL_PREFIXES)
            or base.endswith(defaults.AUTOMATED_LOCAL_SUFFIXES)
        )

    def is_automated_sender(self, address: str) -> bool:
        """A machine's address by its local part (no-reply@, bounces+x@, list-request@)."""
        known = self._senders.get(address)
        if known is None:
            known = self.is_automated_local(address.rpartition("@")[0])
            if len(self._senders) >= _CACHE_LIMIT:
                self._senders.clear()
            self._senders[address] = known
        return known

    def classify(self, address: str, valid: bool = True) -> str:
        """The class of one participant address (lower-cased when valid)."""
        if not valid:
            return INVALID
        cached = self._cache.get(address)
        if cached is None:
            cached = self._classify(address.strip().lower())
            if len(self._cache) >= _CACHE_LIMIT:
                self._cache.clear()
            self._cache[address] = cached
        return cached

    def classify_all(self, people: Iterable[Participant | None]) -> dict[str, str]:
        """Class of every participant, keyed by address in first-seen order (None skipped)."""
        cache = self._cache
        out: dict[str, str] = {}
        for person in people:
            if person is None:
                continue
            address = person.address
            if address in out:
                continue
            if not person.valid:
                out[address] = INVALID
            else:
                out[address] = cache.get(address) or self.classify(address)
        return out

    def _domain_facts(self, domain: str) -> tuple[bool, bool, bool, bool, bool, bool]:
        """(excluded, blocked, internal, ignored, tool, personal) for a domain, computed once."""
        facts = self._domains.get(domain)
        if facts is None:
            labels = parents(domain)

            def listed(domains: frozenset[str]) -> bool:
                return bool(domains) and any(d in domains for d in labels)

            facts = (
                listed(self.excluded_domains),
                listed(self.blocked_domains),
                bool(self.internal_domains)
                and (
                    listed(self.internal_domains)
                    or registrable_domain(domain) in self.internal_domains
                ),
                listed(self.ignored_domains),
                listed(self._tools.domains),
                listed(self.personal_domains),
            )
            if len(self._domains) >= _CACHE_LIMIT:
                self._domains.clear()
            self._domains[domain] = facts
        return facts

    def _classify(self, address: str) -> str:
        local, at, domain = address.rpartition("@")
        if not at or not local or not domain:
            return INVALID
        if address in self.own_addresses or address in self.colleague_addresses:
            return INTERNAL
        excluded, blocked, internal, ignored, tool_domain, personal = self._domain_facts(domain)
        if excluded or address in self.excluded_addresses:
            return EXCLUDED
        if blocked or address in self.blocked_addresses:
            return BLOCKED
        if internal:
            return INTERNAL
        if ignored or address in self.ignored_addresses:
            return IGNORED
        if self.rule_tools and (
            tool_domain
            or self._tools.match_address(address, local)
            or (self.rule_automated and self.is_automated_local(local))
        ):
            return TOOL
        if self.rule_role_addresses and local.split("+", 1)[0] in self.role_local_parts:
            return ROLE
        if self.rule_personal_only and personal:
            return PERSONAL
        return EXTERNAL


@lru_cache(maxsize=512)
def folder_key(folder: str) -> str:
    """Compare folders by their final name, case- and space-insensitively ("Sent Items",
    "sentitems" and "Inbox/Sent Items" are the same)."""
    final = str(folder).replace("\\", "/").rsplit("/", 1)[-1]
    return "".join(final.split()).casefold()
