"""The built-in CRM's fast address check agrees with the full validator (parse_participant)."""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from server.crm.builtin.people import normalise_address, valid_addresses
from server.mail.base import parse_participant

LOCAL = st.text(alphabet="abcXYZ019.!#$%&'*+/=?^_`{|}~-\"(),:;<>@[] é", min_size=0, max_size=70)
DOMAIN = st.text(alphabet="abcXYZ019.-_ é", min_size=0, max_size=70)
TLD = st.sampled_from(["test", "com", "io", "local", "localhost", "onion", "c", "123", "x-y", ""])


@settings(max_examples=600, deadline=None)
@given(LOCAL, DOMAIN, TLD)
def test_the_fast_path_never_accepts_what_the_validator_refuses(local, domain, tld):
    raw = f"{local}@{domain}.{tld}" if tld else f"{local}@{domain}"
    full = parse_participant(raw)
    expected = full.address if full.valid else None
    assert normalise_address(raw) == expected


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        ("Ana.Bauer@Acme.TEST", "ana.bauer@acme.test"),
        ("  <ana@acme.test> ", "ana@acme.test"),
        ("ana@acme", None),
        ("ana@acme.localhost", None),
        ("ana@xn--bcher-kva.example", "ana@bücher.example"),  # the validator decodes IDNA
        ("ana@a--b.test", "ana@a--b.test"),
        ("a" * 65 + "@acme.test", "a" * 65 + "@acme.test"),  # long: the full path decides
        ("ana..b@acme.test", None),
        ("", None),
        (None, None),
        (12, None),
    ],
)
def test_examples(raw, expected):
    assert normalise_address(raw) == expected


def test_valid_addresses_deduplicates_in_order():
    assert valid_addresses(["B@x.test", "a@x.test", "b@X.test", "junk"]) == ["b@x.test", "a@x.test"]
