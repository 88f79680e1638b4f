"""One user as the admin sees them: the effective value of every setting with the level that
set it (default, organisation, user), and their sync sessions."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from sqlalchemy import select

from ..db import get_session
from ..models.sync import SyncSession
from ..models.tenancy import User
from ..policy import effective_policy, org_settings, user_settings
from ..policy.merge import policy_settings
from ..policy.store import org_locks
from ..policy.validation import SETTINGS
from ..rules.explain import reason_text
from .controls import LABELS

SESSIONS_SHOWN = 50


@dataclass(frozen=True)
class SettingLine:
    name: str
    label: str
    value: Any
    level: str  # default | organisation | user | organisation + user
    locked: bool


def effective_settings(user: User) -> list[SettingLine]:
    effective = policy_settings(effective_policy(user))
    org = org_settings(user.org_id)
    mine = user_settings(user.id)
    locked = org_locks(user.org_id)
    lines = []
    for name, spec in SETTINGS.items():
        by_user = name in mine and spec.level == "user" and name not in locked
        by_org = name in org
        if by_user and by_org and spec.merge == "add":
            level = "organisation + user"
        elif by_user:
            level = "user"
        elif by_org:
            level = "organisation"
        else:
            level = "default"
        lines.append(SettingLine(name, LABELS[name], effective[name], level, name in locked))
    return lines


def sessions_of(user: User, limit: int = SESSIONS_SHOWN) -> list[dict[str, Any]]:
    rows = get_session().scalars(
        select(SyncSession)
        .where(SyncSession.user_id == user.id, SyncSession.org_id == user.org_id)
        .order_by(SyncSession.started_at.desc(), SyncSession.id.desc())
        .limit(limit)
    )
    return [
        {
            "started_at": s.started_at,
            "duration_s": round((s.duration_ms or 0) / 1000, 1),
            "status": s.status,
            "trigger": s.trigger,
            "read": s.items_read,
            "screened": {reason_text(code): n for code, n in sorted((s.counts or {}).items())},
            "saved": s.saved,
            "created": s.created,
            "errors": s.errors,
            "error": s.error,
        }
        for s in rows
    ]
