"""Admin actions on people, one function each, every one audited: grant or remove admin,
allow or disallow, enable or disable sync, sync now, revoke Microsoft or CRM access."""

from __future__ import annotations

from sqlalchemy import select

from ..auth.roles import role_sources, set_granted_admin
from ..auth.sessions import revoke_user_sessions
from ..auth.tokens import disconnect
from ..db import get_session
from ..errors import ApiError
from ..models.connections import OrgAllowedUser
from ..models.schedule import mark_due
from ..models.tenancy import Organisation, User
from .audit import record_audit, record_org_audit


def _target(user: User) -> dict:
    return {"target_type": "user", "target_id": user.id, "target": user.email}


def set_admin(user: User, granted: bool, actor_label: str = "") -> None:
    before = {"role": user.role, "sources": role_sources(user)}
    set_granted_admin(user, granted)
    get_session().commit()
    after = {"role": user.role, "sources": role_sources(user)}
    action = "role.granted" if granted else "role.removed"
    record_audit(
        user.org_id, action, before=before, after=after, actor_label=actor_label, **_target(user)
    )


def set_allowed(org: Organisation, object_id: str, label: str, allowed: bool) -> bool:
    """Put a directory user on (or off) the allow list; True when it changed."""
    db = get_session()
    row = db.scalar(
        select(OrgAllowedUser).where(
            OrgAllowedUser.org_id == org.id, OrgAllowedUser.object_id == object_id
        )
    )
    if allowed == (row is not None):
        return False
    if allowed:
        db.add(OrgAllowedUser(org_id=org.id, object_id=object_id, label=label[:320]))
        person = db.scalar(select(User).where(User.org_id == org.id, User.object_id == object_id))
        if person is not None:
            mark_due(db, person.id, org.id)  # their sync resumes at the next tick
    else:
        db.delete(row)
    db.commit()
    record_audit(
        org.id,
        "user.allowed" if allowed else "user.disallowed",
        target_type="directory_user",
        target_id=object_id,
        target=label,
        before={"allowed": not allowed},
        after={"allowed": allowed},
    )
    return True


def set_restriction(org: Organisation, on: bool) -> None:
    if org.restrict_to_allowed == on:
        return
    before = {"restrict_to_allowed": org.restrict_to_allowed}
    org.restrict_to_allowed = on
    get_session().commit()
    record_org_audit(
        org,
        "org.restriction_changed",
        before=before,
        after={"restrict_to_allowed": on},
    )


def set_sync_enabled(user: User, enabled: bool) -> bool:
    if user.sync_enabled == enabled:
        return False
    user.sync_enabled = enabled
    if enabled:
        mark_due(get_session(), user.id, user.org_id)  # resumes at the next tick
    get_session().commit()
    record_audit(
        user.org_id,
        "sync.enabled" if enabled else "sync.disabled",
        before={"sync_enabled": not enabled},
        after={"sync_enabled": enabled},
        **_target(user),
    )
    return True


def sync_now(user: User) -> bool:
    from ..auth.identity import user_refused
    from ..sync.scheduler import sync_now as enqueue_now

    if not user.sync_enabled or user_refused(user):
        raise ApiError(409, "sync_off", f"Sync is off for {user.email}.")
    enqueued = enqueue_now(user)
    record_audit(user.org_id, "sync.requested", after={"enqueued": enqueued}, **_target(user))
    return enqueued


def revoke_microsoft(user: User) -> bool:
    """Forget the user's Microsoft tokens and end their sessions (as their own disconnect)."""
    done = disconnect(user)
    revoke_user_sessions(user.id)
    record_audit(
        user.org_id,
        "connection.revoked",
        after={"provider": "microsoft", "had_connection": done},
        **_target(user),
    )
    return done


def revoke_crm(user: User) -> bool:
    """Revoke the user's own CRM login (Salesforce, as their own disconnect does); the
    built-in CRM has none."""
    from flask import current_app

    done = False
    if current_app.config["CRM_ADAPTER"] == "salesforce":
        from ..crm.salesforce.tokens import OAuthSettings, revoke_and_delete

        done = revoke_and_delete(user, OAuthSettings.from_config())
    record_audit(
        user.org_id,
        "connection.revoked",
        after={"provider": "crm", "had_connection": done},
        **_target(user),
    )
    return done
