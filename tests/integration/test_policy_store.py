"""Policy settings in the database: merge, validation, "do not sync", remembered choices and
the rule preview over the ledger (SQLite, and PostgreSQL when TEST_DATABASE_URL is set)."""

from __future__ import annotations

import pytest

from server.crm.base import RecordRef
from server.errors import ApiError
from server.mail.base import Message, parse_participant
from server.models.ledger import LedgerEntry
from server.models.policy import OrgPolicy
from server.models.tenancy import Organisation, OrgDomain, User
from server.policy import (
    add_to_blocklist,
    effective_policy,
    forget_choice,
    preview_org_policy,
    preview_user_policy,
    remember_choice,
    remembered_choices,
    remove_from_blocklist,
    update_org_policy,
    update_user_policy,
)
from server.rules.screening import screen


@pytest.fixture
def org(db):
    org = Organisation(tenant_id="tenant-a", name="Acme")
    org.domains.append(OrgDomain(domain="acme-corp.com"))
    db.add(org)
    db.commit()
    return org


def make_user(db, org, name: str, role: str = "user") -> User:
    user = User(
        org_id=org.id,
        tenant_id=org.tenant_id,
        object_id=f"oid-{name}",
        email=f"{name}@acme-corp.com",
        aliases=[f"{name}.alias@acme-corp.com"],
        role=role,
    )
    db.add(user)
    db.commit()
    return user


@pytest.fixture
def alice(db, org):
    return make_user(db, org, "alice", "admin")


@pytest.fixture
def bob(db, org):
    return make_user(db, org, "bob")


def email_to(*addresses: str) -> Message:
    return Message(
        id="m",
        internet_message_id="<m>",
        folder="inbox",
        from_=parse_participant("alice@acme-corp.com"),
        to=[parse_participant(a) for a in addresses],
    )


def test_defaults_with_directory_domains_and_aliases(app, alice):
    policy = effective_policy(alice)
    assert policy.internal_domains == frozenset({"acme-corp.com"})
    assert policy.own_addresses == frozenset({"alice@acme-corp.com", "alice.alias@acme-corp.com"})
    assert policy.sync_interval_minutes == app.config["SYNC_INTERVAL_MINUTES"]
    assert (policy.history_days, policy.auto_save) == (30, "threads")


def test_org_changes_apply_at_once_and_none_resets(db, alice, bob):
    stored = update_org_policy(
        alice.org_id, {"history_days": 90, "blocked_domains": ["Rival.com"]}, actor=alice
    )
    assert stored == {"history_days": 90, "blocked_domains": ["rival.com"]}
    assert effective_policy(bob).history_days == 90
    assert not screen(email_to("x@rival.com"), effective_policy(bob)).keep
    update_org_policy(alice.org_id, {"history_days": None}, actor=alice)
    assert effective_policy(bob).history_days == 30
    row = db.query(OrgPolicy).one()
    assert row.updated_by == alice.id


def test_invalid_settings_name_the_problem(alice):
    with pytest.raises(ApiError) as caught:
        update_org_policy(
            alice.org_id, {"internal_domains": ["not a domain"], "history_days": 999}, actor=alice
        )
    assert caught.value.status == 400 and caught.value.code == "invalid_policy"
    assert set(caught.value.details["errors"]) == {"internal_domains", "history_days"}
    assert "history_days: must be between 1 and 180, got 999" in caught.value.message


def test_user_settings_override_and_lists_add_up(alice, bob):
    update_org_policy(
        alice.org_id, {"auto_save": "all", "blocked_addresses": ["a@x.com"]}, actor=alice
    )
    update_user_policy(bob, {"auto_save": "off", "blocked_addresses": ["b@y.com"]})
    mine, theirs = effective_policy(bob), effective_policy(alice)
    assert mine.auto_save == "off" and theirs.auto_save == "all"
    assert mine.blocked_addresses == frozenset({"a@x.com", "b@y.com"})
    assert theirs.blocked_addresses == frozenset({"a@x.com"})


def test_users_cannot_change_organisation_settings(bob):
    with pytest.raises(ApiError) as caught:
        update_user_policy(bob, {"internal_domains": ["evil.com"]})
    assert caught.value.details["errors"] == {
        "internal_domains": "internal_domains: only an administrator can change this setting"
    }


def test_do_not_sync_from_the_pane(bob):
    assert add_to_blocklist(bob, "Jane@Customer.com") == {
        "list": "blocked_addresses",
        "entry": "jane@customer.com",
    }
    assert add_to_blocklist(bob, "@spam.com") == {"list": "blocked_domains", "entry": "spam.com"}
    add_to_blocklist(bob, "jane@customer.com")  # twice: stored once
    policy = effective_policy(bob)
    assert policy.blocked_addresses == frozenset({"jane@customer.com"})
    assert policy.blocked_domains == frozenset({"spam.com"})
    decision = screen(email_to("jane@customer.com", "joe@customer.com"), policy)
    assert decision.keep and decision.linkable_addresses == ["joe@customer.com"]
    assert remove_from_blocklist(bob, "JANE@customer.com") is True
    assert remove_from_blocklist(bob, "jane@customer.com") is False
    assert effective_policy(bob).blocked_addresses == frozenset()


@pytest.mark.parametrize("entry", ["bob@acme-corp.com", "not valid", ""])
def test_do_not_sync_refuses_bad_entries(bob, entry):
    with pytest.raises(ApiError) as caught:
        add_to_blocklist(bob, entry)
    assert caught.value.status == 400


def test_remembered_choices(db, org, alice, bob):
    remember_choice(bob, "Jane@Customer.com", RecordRef("contact", "c1"))
    remember_choice(bob, "jane@customer.com", RecordRef("lead", "l9"))  # replaces
    remember_choice(bob, "joe@customer.com", RecordRef("contact", "c2"))
    remember_choice(alice, "jane@customer.com", RecordRef("contact", "c3"))
    got = remembered_choices(bob, ["JANE@customer.com", "joe@customer.com", "nobody@x.com"])
    assert got == {
        "jane@customer.com": RecordRef("lead", "l9"),
        "joe@customer.com": RecordRef("contact", "c2"),
    }
    assert remembered_choices(alice, ["jane@customer.com"]) == {
        "jane@customer.com": RecordRef("contact", "c3")
    }
    assert remembered_choices(bob, []) == {}
    assert forget_choice(bob, "joe@customer.com") is True
    assert remembered_choices(bob, ["joe@customer.com"]) == {}


def test_remember_choice_refuses_bad_input(bob):
    with pytest.raises(ApiError):
        remember_choice(bob, "no address", RecordRef("contact", "c1"))
    with pytest.raises(ApiError):
        remember_choice(bob, "a@b.com", RecordRef("opportunity", "o1"))  # type: ignore[arg-type]


def ledger(
    db, org, user, key: str, *participants: str, kind="email", subject="Hello", status="saved"
):
    db.add(
        LedgerEntry(
            org_id=org.id,
            item_key=key,
            kind=kind,
            crm_target="builtin",
            user_id=user.id if user else None,
            status=status,
            subject=subject,
            participants=list(participants),
        )
    )
    db.commit()


def test_rule_preview_counts_saved_items_a_change_would_exclude(db, org, alice, bob):
    ledger(db, org, bob, "1", "bob@acme-corp.com", "jane@customer.com")
    ledger(db, org, bob, "2", "bob@acme-corp.com", "jane@customer.com", "joe@other.com")
    ledger(db, org, alice, "3", "alice@acme-corp.com", "x@customer.com", subject="Payslip")
    ledger(db, org, alice, "4", "alice@acme-corp.com", "m@meet.com", kind="meeting")
    ledger(db, org, None, "5", "x@customer.com")
    ledger(db, org, alice, "6", "x@customer.com", status="failed")  # not saved: not counted
    result = preview_org_policy(
        org.id,
        {
            "excluded_domains": ["customer.com"],
            "subject_keywords": ["payslip"],
            "blocked_addresses": ["joe@other.com"],
        },
    )
    assert result["total"] == 5
    assert result["would_skip"] == 4
    assert result["newly_skipped"] == 4
    assert result["by_reason"] == {"excluded_participant": 3, "subject_keyword": 1}
    assert result["would_unlink"] == 0
    blocked = preview_org_policy(org.id, {"blocked_addresses": ["joe@other.com"]})
    assert (blocked["would_skip"], blocked["would_unlink"]) == (0, 1)
    meetings = preview_org_policy(org.id, {"meetings_enabled": False})
    assert meetings["by_reason"] == {"meetings_off": 1}


def test_user_preview_covers_only_their_items(db, org, alice, bob):
    ledger(db, org, bob, "1", "bob@acme-corp.com", "jane@customer.com")
    ledger(db, org, alice, "2", "alice@acme-corp.com", "jane@customer.com")
    result = preview_user_policy(bob, {"blocked_domains": ["customer.com"]})
    assert (result["total"], result["would_skip"]) == (1, 1)
    assert result["by_reason"] == {"only_blocked": 1}
    with pytest.raises(ApiError):
        preview_user_policy(bob, {"internal_domains": ["x.com"]})


def test_organisations_are_isolated(db, alice):
    other = Organisation(tenant_id="tenant-b", name="Other")
    db.add(other)
    db.commit()
    carol = make_user(db, other, "carol")
    update_org_policy(alice.org_id, {"blocked_domains": ["rival.com"]}, actor=alice)
    assert effective_policy(carol).blocked_domains == frozenset()
    ledger(db, other, carol, "1", "x@rival.com")
    assert preview_org_policy(alice.org_id, {"blocked_domains": ["rival.com"]})["total"] == 0


def test_colleagues_aliases_on_other_domains_are_internal(db, org, alice, bob):
    bob.aliases = ["bob@acme-subsidiary.com", "bob.b@acme-corp.com"]
    db.commit()
    policy = effective_policy(alice)
    assert policy.colleague_addresses == frozenset({"bob@acme-subsidiary.com"})
    decision = screen(email_to("bob@acme-subsidiary.com"), policy)
    assert decision.participants["bob@acme-subsidiary.com"] == "internal"
    assert decision.reason == "internal_only"


def test_colleagues_read_are_only_those_who_can_add_an_address(db, org, alice):
    """The database leaves out colleagues on internal domains without aliases (a large
    organisation's sessions do not read every user); the addresses found are the same."""
    cases = {
        "Carol@ACME-CORP.com": [],  # internal, any case: nothing to add
        "dan@eu.acme-corp.com": [],  # a subdomain: internal
        "erin@erin-consulting.com": [],  # a colleague whose own address is elsewhere
        "frank@acme-corp.com": ["Frank@Frank-Shop.com"],  # an alias elsewhere
        "gina@acme_corp.com": None,  # LIKE's "_" must not match "-": elsewhere
    }
    for n, (address, aliases) in enumerate(cases.items()):
        db.add(
            User(
                org_id=org.id,
                tenant_id=org.tenant_id,
                object_id=f"oid-case-{n}",
                email=address,
                aliases=aliases,
                role="user",
            )
        )
    db.commit()
    assert effective_policy(alice).colleague_addresses == frozenset(
        {"erin@erin-consulting.com", "frank@frank-shop.com", "gina@acme_corp.com"}
    )


def test_preview_of_items_whose_user_is_gone_knows_the_organisations_domains(db, org):
    # A saved item outlives its user (ledger user_id SET NULL): the organisation's own
    # domains must still count as internal in the preview.
    ledger(db, org, None, "1", "carl@acme-corp.com", "x@customer.com")
    result = preview_org_policy(org.id, {"blocked_domains": ["customer.com"]})
    assert (result["total"], result["would_skip"], result["newly_skipped"]) == (1, 1, 1)
    assert result["by_reason"] == {"only_blocked": 1}


def test_the_policy_is_read_after_pending_changes_are_flushed(db, org, alice, bob):
    """The policy's reads skip the ORM (db.read_rows) but not its autoflush: a change made in
    the same session and not yet committed is what they see, as Session.execute would."""
    bob.aliases = ["bob@acme-subsidiary.com"]
    db.add(OrgDomain(org_id=org.id, domain="acme-labs.com"))
    policy = effective_policy(alice)
    assert policy.colleague_addresses == frozenset({"bob@acme-subsidiary.com"})
    assert policy.internal_domains == frozenset({"acme-corp.com", "acme-labs.com"})
    with db.no_autoflush:
        bob.aliases = ["bob@elsewhere.com"]
        assert effective_policy(alice).colleague_addresses == frozenset({"bob@acme-subsidiary.com"})
