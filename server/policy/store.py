"""Loading and saving data-control settings; `effective_policy(user)` for everyone else.

Settings are read fresh from the database on every call, so a change applies at the next
sync session without anyone signing in again.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable, Mapping
from functools import cache, lru_cache
from typing import Any

from flask import current_app, has_app_context
from sqlalchemy import String, bindparam, cast, func, not_, or_, select, true

from ..db import get_session, read_rows
from ..errors import ApiError
from ..models.policy import OrgPolicy, UserPolicy
from ..models.tenancy import Organisation, OrgDomain, User
from ..rules.domains import in_domains, registrable_domain, registrable_set
from ..rules.policy import Policy
from .merge import build_policy
from .validation import SettingsError, check_block_entry, validate_settings

log = logging.getLogger(__name__)


def _invalid(exc: SettingsError) -> ApiError:
    return ApiError(400, "invalid_policy", str(exc), errors=exc.errors)


def deployment_defaults() -> dict[str, Any]:
    """Defaults that come from the deployment's settings rather than from rules/defaults."""
    if not has_app_context():
        return {}
    interval = current_app.config.get("SYNC_INTERVAL_MINUTES")
    return {"sync_interval_minutes": interval} if isinstance(interval, int) else {}


def org_settings(org_id: int) -> dict[str, Any]:
    row = get_session().scalar(select(OrgPolicy).where(OrgPolicy.org_id == org_id))
    return dict(row.settings or {}) if row else {}


def org_locks(org_id: int) -> set[str]:
    """Settings users may not change (the admin's "users may not change this")."""
    row = get_session().scalar(select(OrgPolicy.locked).where(OrgPolicy.org_id == org_id))
    return set(row or ())


def set_org_locks(org_id: int, names: Iterable[str], actor: User | None) -> None:
    """Replace the locked settings (user-level settings only; caller audits). Commits."""
    from .validation import SETTINGS

    wanted = sorted({n for n in names if n in SETTINGS and SETTINGS[n].level == "user"})
    session = get_session()
    row = session.scalar(select(OrgPolicy).where(OrgPolicy.org_id == org_id).with_for_update())
    if row is None:
        row = OrgPolicy(org_id=org_id, settings={}, locked=[])
        session.add(row)
    row.locked = wanted
    row.updated_by = actor.id if actor is not None else None
    session.commit()


def user_settings(user_id: int) -> dict[str, Any]:
    row = get_session().scalar(select(UserPolicy).where(UserPolicy.user_id == user_id))
    return dict(row.settings or {}) if row else {}


def org_domains(org_id: int) -> list[str]:
    """The organisation's verified domains (always internal)."""
    org = get_session().get(Organisation, org_id)
    return org.domain_names if org else []


@lru_cache(maxsize=1024)
def _colleagues_statement(domains: tuple[str, ...]):
    """Built once per set of internal domains, the organisation and user bound at execution:
    building it cost more than running it, on every pane request (bench/pane.py)."""
    # Only colleagues with an alias, or whose address is not on an internal domain (or a
    # subdomain), can add anything: the database leaves the others out, so a session in an
    # organisation of 10,000 mailboxes does not read 10,000 rows to find none.
    email = func.lower(User.email)
    internal = [email.endswith(f"@{d}", autoescape=True) for d in domains]
    internal += [email.endswith(f".{d}", autoescape=True) for d in domains]
    has_alias = func.coalesce(cast(User.aliases, String), "[]").notin_(["[]", "null"])
    return select(User.email, User.aliases).where(
        User.org_id == bindparam("org_id"),
        User.id != bindparam("user_id"),
        or_(has_alias, not_(or_(*internal))) if internal else true(),
    )


def colleague_addresses(user: User, internal_domains: Iterable[str]) -> set[str]:
    """Addresses of the user's colleagues that are not on the organisation's domains (aliases
    elsewhere); those on its domains are internal anyway."""
    domains = registrable_set(internal_domains)
    rows = read_rows(
        get_session(),
        _colleagues_statement(tuple(sorted(domains))),
        {"org_id": user.org_id, "user_id": user.id},
    )
    out: set[str] = set()
    for email, aliases in rows:
        for raw in [email, *(aliases or [])]:
            address = (raw or "").strip().lower()
            domain = address.rpartition("@")[2]
            if domain and not (
                in_domains(domain, domains) or registrable_domain(domain) in domains
            ):
                out.add(address)
    return out


@cache
def _stored_policy_statement():
    """What effective_policy reads, in one statement built once: the organisation's settings
    and locks, the user's own settings, and the organisation's verified domains — one row per
    domain (the settings repeat), or one row with no domain."""
    return (
        select(
            OrgPolicy.settings.label("org_settings"),
            OrgPolicy.locked,
            UserPolicy.settings.label("user_settings"),
            OrgDomain.domain,
        )
        .select_from(Organisation)
        .outerjoin(OrgPolicy, OrgPolicy.org_id == Organisation.id)
        .outerjoin(UserPolicy, UserPolicy.user_id == bindparam("user_id"))
        .outerjoin(OrgDomain, OrgDomain.org_id == Organisation.id)
        .where(Organisation.id == bindparam("org_id"))
    )


def _stored_policy(user: User) -> tuple[dict[str, Any], set[str], dict[str, Any], list[str]]:
    """(organisation settings, locked names, the user's settings, verified domains sorted)."""
    params = {"org_id": user.org_id, "user_id": user.id}
    rows = read_rows(get_session(), _stored_policy_statement(), params).all()
    if not rows:
        return {}, set(), {}, []
    first = rows[0]
    domains = sorted(row.domain for row in rows if row.domain is not None)
    return (
        dict(first.org_settings or {}),
        set(first.locked or ()),
        dict(first.user_settings or {}),
        domains,
    )


def effective_policy(
    user: User,
    *,
    org_overrides: Mapping[str, Any] | None = None,
    user_overrides: Mapping[str, Any] | None = None,
    colleagues: bool = True,
) -> Policy:
    """The user's Policy: organisation settings merged with the user's own, the
    organisation's domains internal, the user's addresses and aliases their own.
    Overrides (already validated) replace stored values, for previews. `colleagues=False`
    leaves the colleagues' outside addresses out (one statement fewer), for a caller that
    only asks what to read (sync/quiet_poll.py), never whom an item is with."""
    stored, locked, own, domains = _stored_policy(user)
    merged = {**stored, **(org_overrides or {})}
    org = {k: v for k, v in merged.items() if v is not None}
    mine = {
        k: v
        for k, v in {**own, **(user_overrides or {})}.items()
        if k not in locked  # the organisation decides these alone
    }
    return build_policy(
        org,
        {k: v for k, v in mine.items() if v is not None},
        org_domains=domains,
        own_addresses=user.own_addresses,
        colleague_addresses=(
            colleague_addresses(user, [*domains, *org.get("internal_domains", ())])
            if colleagues
            else ()
        ),
        defaults=deployment_defaults(),
    )


def _apply(stored: Mapping[str, Any], changes: Mapping[str, Any]) -> dict[str, Any]:
    out = dict(stored)
    for name, value in changes.items():
        if value is None:
            out.pop(name, None)
        else:
            out[name] = value
    return out


def update_org_policy(
    org: Organisation | int, changes: Mapping[str, Any], actor: User | None
) -> dict[str, Any]:
    """Validate and store an administrator's changes (None resets a setting to its
    default). Returns the organisation's stored settings. Raises ApiError 400 with every
    bad setting named."""
    org_id = org if isinstance(org, int) else org.id
    try:
        checked = validate_settings(changes, "org")
    except SettingsError as exc:
        raise _invalid(exc) from None
    session = get_session()
    row = session.scalar(select(OrgPolicy).where(OrgPolicy.org_id == org_id).with_for_update())
    if row is None:
        row = OrgPolicy(org_id=org_id, settings={})
        session.add(row)
    row.settings = _apply(row.settings or {}, checked)
    row.updated_by = actor.id if actor is not None else None
    session.commit()
    log.info(
        "org policy changed",
        extra={"org_id": org_id, "settings": sorted(checked), "actor_id": row.updated_by},
    )
    return dict(row.settings)


def update_user_policy(user: User, changes: Mapping[str, Any]) -> dict[str, Any]:
    """Validate and store a user's own settings; returns them. Settings the organisation
    locked are refused."""
    try:
        checked = validate_settings(changes, "user")
    except SettingsError as exc:
        raise _invalid(exc) from None
    locked = org_locks(user.org_id) & set(checked)
    if locked:
        errors = {n: f"{n}: your administrator does not let users change this" for n in locked}
        raise ApiError(400, "invalid_policy", "; ".join(errors.values()), errors=errors)
    session = get_session()
    row = _user_row(user, lock=True)
    row.settings = _apply(row.settings or {}, checked)
    session.commit()
    return dict(row.settings)


def _user_row(user: User, lock: bool = False) -> UserPolicy:
    session = get_session()
    query = select(UserPolicy).where(UserPolicy.user_id == user.id)
    row = session.scalar(query.with_for_update() if lock else query)
    if row is None:
        row = UserPolicy(org_id=user.org_id, user_id=user.id, settings={})
        session.add(row)
    return row


def add_to_blocklist(user: User, entry: str) -> dict[str, str]:
    """ "Do not sync" from the pane: an address (or a whole domain) joins the user's
    blocklist. Returns {"list": "blocked_addresses" | "blocked_domains", "entry": value}."""
    try:
        name, value = check_block_entry(entry)
    except SettingsError as exc:
        raise _invalid(exc) from None
    if name == "blocked_addresses" and value in user.own_addresses:
        raise ApiError(400, "invalid_policy", f'"{value}" is your own address')
    if name in org_locks(user.org_id):
        raise ApiError(
            400, "invalid_policy", f"{name}: your administrator does not let users change this"
        )
    row = _user_row(user, lock=True)
    current = list((row.settings or {}).get(name, []))
    if value not in current:
        row.settings = {**(row.settings or {}), name: [*current, value]}
    get_session().commit()
    return {"list": name, "entry": value}


def remove_from_blocklist(user: User, entry: str) -> bool:
    """Undo "do not sync" for the user's own list; True when the entry was there."""
    try:
        name, value = check_block_entry(entry)
    except SettingsError as exc:
        raise _invalid(exc) from None
    row = _user_row(user, lock=True)
    current = list((row.settings or {}).get(name, []))
    found = value in current
    if found:
        row.settings = {**row.settings, name: [v for v in current if v != value]}
    get_session().commit()
    return found
