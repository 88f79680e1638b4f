"""The generated mailbox's labels are the oracle every sync test compares against, so a label
must describe its message exactly."""

from datetime import UTC, datetime

import pytest

from server.sandbox.directory import DEMO_TENANT_ID, users_of
from server.sandbox.mailbox import GeneratedMailbox

NOW = datetime(2026, 11, 30, tzinfo=UTC)


@pytest.mark.parametrize("seed", range(1, 9))
def test_a_saved_label_names_each_person_once_and_two_accounts_means_two(seed):
    box = GeneratedMailbox(users_of(DEMO_TENANT_ID)[0], 3_000, seed, NOW)
    saved = [label for i in range(3_000) if (label := box.render(i)[1])["outcome"] == "save"]
    for label in saved:
        assert len(label["people"]) == len(set(label["people"])), label
    two = [label for label in saved if label["category"] == "cc_two_accounts"]
    assert two and all(len(label["people"]) == 2 for label in two)
