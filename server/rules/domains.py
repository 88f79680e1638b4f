"""Registrable domains (mail.example.co.uk belongs to example.co.uk) and domain-list lookups.

tldextract is built with no suffix-list URLs, so it never goes to the network: it uses the
Public Suffix List snapshot bundled with the package.
"""

from __future__ import annotations

from collections.abc import Iterable
from functools import lru_cache

import tldextract

_EXTRACT = tldextract.TLDExtract(suffix_list_urls=(), cache_dir=None)


@lru_cache(maxsize=65536)
def registrable_domain(domain: str) -> str:
    """The domain a company registers (example.co.uk for mail.example.co.uk); a domain under
    no known public suffix (corp.local, demo.test) is returned as given."""
    host = domain.strip().strip(".").lower()
    if not host:
        return ""
    try:
        found = _EXTRACT(host).top_domain_under_public_suffix
    except (ValueError, UnicodeError):
        return host
    return found or host


def parents(domain: str) -> list[str]:
    """The domain and every parent with at least two labels: a.b.example.com → a.b.example.com,
    b.example.com, example.com."""
    labels = domain.split(".")
    return [".".join(labels[i:]) for i in range(max(len(labels) - 1, 1))]


def in_domains(domain: str, domains: frozenset[str]) -> bool:
    """True when the domain or one of its parents is listed."""
    if not domains or not domain:
        return False
    if domain in domains:
        return True
    return any(parent in domains for parent in parents(domain)[1:])


def normalise_domains(values: Iterable[str]) -> frozenset[str]:
    return frozenset(v.strip().strip(".").lower().lstrip("@") for v in values if v and v.strip())


def registrable_set(values: Iterable[str]) -> frozenset[str]:
    """Domains widened to their registrable domain (the organisation owns all of it)."""
    return frozenset(registrable_domain(d) for d in normalise_domains(values))
