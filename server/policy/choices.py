"""The record each user picked for an address in the pane: next time it is the default pick
(rules/matching.py, reason "remembered")."""

from __future__ import annotations

from collections.abc import Iterable

from sqlalchemy import delete, select
from sqlalchemy.exc import IntegrityError

from ..crm.base import RecordRef
from ..db import get_session
from ..errors import ApiError
from ..models.policy import RememberedChoice
from ..models.tenancy import User

_RECORD_TYPES = ("contact", "lead", "account")


def remember_choice(user: User, address: str, ref: RecordRef) -> None:
    """Store (or replace) the user's pick for this address."""
    key = address.strip().lower()
    if "@" not in key or len(key) > 320:
        raise ApiError(400, "invalid_address", f'"{address[:200]}" is not an email address')
    if ref.type not in _RECORD_TYPES or not ref.id or len(ref.id) > 64:
        raise ApiError(400, "invalid_record", "choose a contact, lead or account")
    session = get_session()
    for _attempt in range(2):
        row = session.scalar(
            select(RememberedChoice).where(
                RememberedChoice.user_id == user.id, RememberedChoice.address == key
            )
        )
        if row is None:
            row = RememberedChoice(org_id=user.org_id, user_id=user.id, address=key)
            session.add(row)
        row.record_type, row.record_id = ref.type, ref.id
        try:
            session.commit()
            return
        except IntegrityError:
            # Another request stored a choice for the same address first: update that one.
            session.rollback()
    raise ApiError(409, "conflict", "the choice changed at the same time; try again")


def remembered_choices(user: User, addresses: Iterable[str]) -> dict[str, RecordRef]:
    """The user's picks for these addresses (lower-cased keys); addresses without one are
    left out."""
    keys = sorted({a.strip().lower() for a in addresses if a})
    if not keys:
        return {}
    out: dict[str, RecordRef] = {}
    session = get_session()
    for start in range(0, len(keys), 500):
        rows = session.scalars(
            select(RememberedChoice).where(
                RememberedChoice.user_id == user.id,
                RememberedChoice.address.in_(keys[start : start + 500]),
            )
        )
        for row in rows:
            out[row.address] = RecordRef(row.record_type, row.record_id)  # type: ignore[arg-type]
    return out


def forget_choice(user: User, address: str) -> bool:
    result = get_session().execute(
        delete(RememberedChoice).where(
            RememberedChoice.user_id == user.id,
            RememberedChoice.address == address.strip().lower(),
        )
    )
    get_session().commit()
    return bool(result.rowcount)
