"""Identity rules: who may sign in, and the organisation and user a token stands for.

- An organisation is a Microsoft tenant (tid); a user is (tid, oid). Never an email address.
- Email and aliases come from the token (preferred_username, email); Graph's proxyAddresses
  join later through `record_aliases`.
- Admin: a Global Administrator directory role in `wids` makes the user an admin while the
  token carries it; a role granted explicitly is kept without it (server/auth/roles.py).
- ALLOWED_TENANTS (empty: any) limits which tenants may sign in at all.
- "Only allowed users may use Courier" (Organisation.restrict_to_allowed): while it is on,
  only users on the organisation's allow list (OrgAllowedUser rows, by object id) and admins
  may sign in or use the API, and only their mailboxes are synced.
"""

from __future__ import annotations

import logging

from flask import current_app
from sqlalchemy import exists, select

from ..db import get_session
from ..errors import ApiError
from ..models.connections import OrgAllowedUser
from ..models.tenancy import Organisation, OrgDomain, User
from ..rules.defaults import PERSONAL_DOMAINS
from .jwt_validation import GUID, InvalidToken, SigningKeysUnavailable, validate_access_token
from .roles import set_directory_admin, set_granted_admin

log = logging.getLogger(__name__)
# Entra directory role template ids (the `wids` claim) that make a user a Courier admin:
# Global Administrator. The id is the same in every tenant.
GLOBAL_ADMINISTRATOR = "62e90394-69f5-4237-9190-012177145e10"
ADMIN_ROLE_TEMPLATE_IDS = frozenset({GLOBAL_ADMINISTRATOR})
# The delegated scope our API exposes; Microsoft access tokens for our API must carry it.
API_SCOPE = "access_as_user"


def _is_address(value: object) -> bool:
    return isinstance(value, str) and "@" in value and " " not in value


def addresses_from_claims(claims: dict) -> list[str]:
    found = [claims.get("preferred_username"), claims.get("email"), claims.get("upn")]
    seen: list[str] = []
    for value in found:
        if _is_address(value) and value.lower() not in seen:
            seen.append(value.lower())
    return seen


def tenant_allowed(tenant_id: str) -> bool:
    allowed = tuple(t.lower() for t in current_app.config.get("ALLOWED_TENANTS") or ())
    return not allowed or tenant_id.lower() in allowed


def _user_restricted(org: Organisation, object_id: str, is_admin: bool) -> bool:
    if not org.restrict_to_allowed or is_admin:
        return False
    listed = get_session().scalar(
        select(
            exists().where(OrgAllowedUser.org_id == org.id, OrgAllowedUser.object_id == object_id)
        )
    )
    return not listed


def user_refused(user: User) -> bool:
    """True when the organisation's allow list keeps this (signed-in) user out."""
    return _user_restricted(user.organisation, user.object_id, user.is_admin)


def allowed_condition():
    """SQL condition on User: may use Courier (for the scheduler's due users)."""
    listed = exists().where(
        OrgAllowedUser.org_id == User.org_id, OrgAllowedUser.object_id == User.object_id
    )
    restricted_org = exists().where(
        Organisation.id == User.org_id, Organisation.restrict_to_allowed.is_(True)
    )
    return ~restricted_org | listed | (User.role == "admin")


def record_aliases(user: User, addresses: list[str]) -> None:
    """Add addresses (lower-cased) the user receives mail at; the primary stays `email`."""
    current = {a.lower() for a in user.aliases or []}
    extra = [a.lower() for a in addresses if _is_address(a)]
    merged = sorted((current | set(extra)) - {user.email.lower()})
    if merged != sorted(user.aliases or []):
        user.aliases = merged


def sign_in_identity(claims: dict) -> User:
    """Find or create the organisation and user of verified token claims; apply the rules.

    Raises ApiError 403 (tenant_not_allowed / user_not_allowed) or 400 (invalid_identity).
    Commits.
    """
    tid = str(claims.get("tid", "")).lower()
    oid = str(claims.get("oid", "")).lower()
    if not GUID.match(tid) or not GUID.match(oid):
        raise ApiError(400, "invalid_identity", "The sign-in did not identify a work account.")
    if not tenant_allowed(tid):
        raise ApiError(
            403,
            "tenant_not_allowed",
            "Your organisation is not allowed to use this Courier server.",
        )
    db = get_session()
    org = db.scalar(select(Organisation).where(Organisation.tenant_id == tid))
    addresses = addresses_from_claims(claims)
    if org is None:
        domain = addresses[0].rpartition("@")[2] if addresses else ""
        org = Organisation(tenant_id=tid, name=domain or tid)
        db.add(org)
        db.flush()
    is_directory_admin = bool(ADMIN_ROLE_TEMPLATE_IDS & set(claims.get("wids") or []))
    user = db.scalar(select(User).where(User.tenant_id == tid, User.object_id == oid))
    already_admin = user is not None and user.admin_by_grant
    if _user_restricted(org, oid, is_directory_admin or already_admin):
        db.rollback()
        raise ApiError(
            403, "user_not_allowed", "Your administrator has not enabled Courier for your account."
        )
    if user is None:
        user = User(org_id=org.id, tenant_id=tid, object_id=oid, aliases=[])
        db.add(user)
    if addresses:
        user.email = addresses[0]
    if claims.get("name"):
        user.display_name = str(claims["name"])[:200]
    record_aliases(user, addresses[1:])
    set_directory_admin(user, is_directory_admin)
    for domain in tenant_domains(claims, addresses):
        if domain not in org.domain_names:
            org.domains.append(OrgDomain(domain=domain))
    db.commit()
    return user


def tenant_domains(claims: dict, addresses: list[str]) -> list[str]:
    """Domains a sign-in shows to belong to the tenant: a member's sign-in name is in one of
    its verified domains. Not a guest's (B2B): they sign in with their home organisation's
    address — a customer's domain, which must never become internal — and their token's
    `idp` names that home identity provider instead of the issuer. Never a consumer domain."""
    idp = claims.get("idp")
    if idp and idp != claims.get("iss"):
        return []
    domains = dict.fromkeys(a.rpartition("@")[2] for a in addresses)
    return [d for d in domains if d and d not in PERSONAL_DOMAINS]


def user_from_access_token(token: str) -> User | None:
    """The user of a valid Microsoft access token for our API (None when invalid)."""
    try:
        claims = validate_access_token(token)
    except SigningKeysUnavailable as exc:
        log.warning("bearer token not checked: %s", exc.reason)
        # Not the caller's fault: a 401 would send the pane to sign in again for nothing.
        raise ApiError(
            503, "identity_unavailable", "Microsoft sign-in is unreachable; try again shortly."
        ) from None
    except InvalidToken as exc:
        log.info("bearer token refused: %s", exc.reason)
        return None
    scopes = str(claims.get("scp", "")).split()
    if API_SCOPE not in scopes:
        log.info("bearer token refused: scope %s missing", API_SCOPE)
        return None
    return sign_in_identity(claims)


def grant_admin(user: User) -> None:
    """An existing admin makes `user` an admin of the same organisation (caller checks and
    audits)."""
    set_granted_admin(user, True)
    get_session().commit()


def set_allowed_users(
    org: Organisation, entries: list[tuple[str, str]], restrict: bool = True
) -> None:
    """Replace the organisation's "restrict to these users" list with (object id, label)
    pairs. With `restrict`, the list is switched on (an empty list lifts it). Commits."""
    db = get_session()
    db.query(OrgAllowedUser).filter(OrgAllowedUser.org_id == org.id).delete()
    seen: set[str] = set()
    for object_id, label in entries:
        oid = object_id.lower()
        if not GUID.match(oid):
            raise ApiError(400, "invalid_object_id", f"{object_id!r} is not a directory object id.")
        if oid not in seen:
            seen.add(oid)
            db.add(OrgAllowedUser(org_id=org.id, object_id=oid, label=label[:320]))
    if restrict:
        org.restrict_to_allowed = bool(seen)
    db.commit()


def allowed_users(org: Organisation) -> list[OrgAllowedUser]:
    return list(
        get_session().scalars(
            select(OrgAllowedUser)
            .where(OrgAllowedUser.org_id == org.id)
            .order_by(OrgAllowedUser.label)
        )
    )
