"""Per-organisation cache of Salesforce lookups (address → people, domain → accounts) in Redis.

Saves API calls: the same correspondents appear on every page of a mailbox. Entries expire
after SALESFORCE_CACHE_TTL_SECONDS ("no match" after a third of it, so a contact added in
Salesforce is seen soon); our own creates drop the entries they change.
"""

from __future__ import annotations

import json
from dataclasses import asdict
from typing import Any

from redis import Redis

from ..base import Account, Person, RecordRef


def _person_to(p: Person) -> dict[str, Any]:
    data = asdict(p)
    data["ref"] = p.ref.as_dict()
    data.pop("last_activity_at", None)
    return data


def _person_from(data: dict[str, Any]) -> Person:
    return Person(**{**data, "ref": RecordRef(data["ref"]["type"], data["ref"]["id"])})


def _account_to(a: Account) -> dict[str, Any]:
    data = asdict(a)
    data["ref"] = a.ref.as_dict()
    data.pop("last_activity_at", None)
    return data


def _account_from(data: dict[str, Any]) -> Account:
    return Account(**{**data, "ref": RecordRef(data["ref"]["type"], data["ref"]["id"])})


class LookupCache:
    def __init__(self, redis: Redis | None, namespace: str, ttl_seconds: int):
        self.redis, self.namespace, self.ttl = redis, namespace, ttl_seconds

    def _key(self, kind: str, value: str) -> str:
        return f"courier:sf:{self.namespace}:{kind}:{value}"

    def _get(self, kind: str, values: list[str]) -> dict[str, list[dict]]:
        if self.redis is None or not values or self.ttl <= 0:
            return {}
        raw = self.redis.mget([self._key(kind, v) for v in values])
        return {v: json.loads(r) for v, r in zip(values, raw, strict=True) if r is not None}

    def _put(self, kind: str, entries: dict[str, list[dict]]) -> None:
        if self.redis is None or not entries or self.ttl <= 0:
            return
        pipe = self.redis.pipeline(transaction=False)
        for value, items in entries.items():
            pipe.set(
                self._key(kind, value),
                json.dumps(items),
                ex=self.ttl if items else max(1, self.ttl // 3),
            )
        pipe.execute()

    def people(self, addresses: list[str]) -> dict[str, list[Person]]:
        return {a: [_person_from(p) for p in ps] for a, ps in self._get("addr", addresses).items()}

    def put_people(self, found: dict[str, list[Person]]) -> None:
        self._put("addr", {a: [_person_to(p) for p in ps] for a, ps in found.items()})

    def accounts(self, domains: list[str]) -> dict[str, list[Account]]:
        return {
            d: [_account_from(a) for a in acs] for d, acs in self._get("domain", domains).items()
        }

    def put_accounts(self, found: dict[str, list[Account]]) -> None:
        self._put("domain", {d: [_account_to(a) for a in acs] for d, acs in found.items()})

    def complete_domains(self, domains: list[str]) -> set[str]:
        """Domains whose every contact and lead address is in the cache."""
        if self.redis is None or not domains or self.ttl <= 0:
            return set()
        raw = self.redis.mget([self._key("domain_complete", d) for d in domains])
        return {d for d, r in zip(domains, raw, strict=True) if r is not None}

    def mark_complete_domains(self, domains: list[str]) -> None:
        if self.redis is None or not domains or self.ttl <= 0:
            return
        pipe = self.redis.pipeline(transaction=False)
        for domain in domains:
            pipe.set(self._key("domain_complete", domain), "1", ex=max(1, self.ttl // 3))
        pipe.execute()

    def forget_addresses(self, addresses: list[str]) -> None:
        """After we create a person: their address (and its domain's completeness) is stale."""
        if self.redis is not None and addresses:
            keys = [self._key("addr", a) for a in addresses]
            keys += [self._key("domain_complete", a.rsplit("@", 1)[-1]) for a in addresses]
            self.redis.delete(*keys)
