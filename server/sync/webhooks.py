"""Graph change notifications as the fast trigger (polling stays the safety net).

Subscriptions are created and renewed (at 40-60 % of their lifetime) by the user's session.
A mailbox whose subscriptions are live is polled only at SYNC_SAFETY_POLL_MINUTES; one whose
subscription is missing, expired or removed falls back to SYNC_INTERVAL_MINUTES. The
endpoints answer the validation handshake, check clientState in constant time, and only
enqueue the mailbox's unique session before answering 202.
"""

from __future__ import annotations

import hmac
import logging
import secrets
import zlib
from datetime import UTC, datetime, timedelta
from functools import cache

from flask import Blueprint, Response, current_app, request
from sqlalchemy import bindparam, func, select

from ..db import get_session, utcnow
from ..mail.graph import FolderNotFound, GraphClient, GraphError
from ..models.schedule import mark_due
from ..models.sync import GraphSubscription
from ..models.tenancy import User
from ..security import csrf_exempt
from .due import phase_of
from .jobs import enqueue_session

log = logging.getLogger(__name__)
bp = Blueprint("graph_webhooks", __name__)

NOTIFY_PATH = "/api/graph/notifications"
LIFECYCLE_PATH = "/api/graph/lifecycle"
# Outlook's documented maximum (4,230 minutes); Graph may return less, so we renew at half of
# what it actually granted.
REQUESTED_LIFETIME = timedelta(minutes=4230)
RESYNC_EVENTS = {"missed", "subscriptionRemoved"}
# Renew at 40-60 % of the granted lifetime (see _apply).
RENEW_AT = 0.5
RENEW_SPREAD = 0.2
# reauthorizationRequired for many mailboxes at once: their renewals are spread over this.
REAUTHORIZE_WITHIN = timedelta(minutes=10)


def resources_for(user: User) -> dict[str, str]:
    return {
        f"/users/{user.object_id}/messages": "created",
        f"/users/{user.object_id}/events": "created,updated,deleted",
    }


def ensure_subscriptions(client: GraphClient, user: User, now: datetime | None = None) -> int:
    """Create missing subscriptions and renew those past half their lifetime; returns how
    many Graph calls were made. Failures are logged: polling still covers the mailbox."""
    now = now or utcnow()
    db = get_session()
    base = current_app.config["BASE_URL"].rstrip("/")
    existing = {s.resource: s for s in db.scalars(_subscriptions_statement(), {"user_id": user.id})}
    calls = 0
    for resource, change_type in resources_for(user).items():
        sub = existing.get(resource)
        if sub is not None and now < sub.renew_at:
            continue
        calls += 1
        try:
            if sub is not None and now < sub.expires_at:
                answer = client.send(
                    "PATCH",
                    f"subscriptions/{sub.subscription_id}",
                    {"expirationDateTime": _iso(now + REQUESTED_LIFETIME)},
                )
            else:
                answer = _create(client, user, base, resource, change_type, now, sub)
                sub = None  # _create replaced the row: the new one is read below
        except FolderNotFound:
            if sub is not None:
                db.delete(sub)  # gone on Graph's side: create it again next session
            continue
        except GraphError as exc:
            log.warning("subscription for user %s failed: %s", user.id, exc)
            continue
        sub = sub or db.scalar(
            select(GraphSubscription).where(
                GraphSubscription.user_id == user.id, GraphSubscription.resource == resource
            )
        )
        _apply(sub, answer, now)
    if calls:
        db.commit()
    return calls


@cache
def _subscriptions_statement():
    """Built once, the user bound at execution (as in policy/store): on every session."""
    return select(GraphSubscription).where(GraphSubscription.user_id == bindparam("user_id"))


def _create(
    client: GraphClient,
    user: User,
    base: str,
    resource: str,
    change_type: str,
    now: datetime,
    old: GraphSubscription | None,
) -> dict:
    db = get_session()
    state = secrets.token_urlsafe(32)
    answer = client.send(
        "POST",
        "subscriptions",
        {
            "changeType": change_type,
            "resource": resource,
            "notificationUrl": base + NOTIFY_PATH,
            "lifecycleNotificationUrl": base + LIFECYCLE_PATH,
            "expirationDateTime": _iso(now + REQUESTED_LIFETIME),
            "clientState": state,
        },
    )
    if old is not None:
        db.delete(old)
        db.flush()
    db.add(
        GraphSubscription(
            org_id=user.org_id,
            user_id=user.id,
            resource=resource,
            subscription_id=str(answer.get("id", "")),
            client_state=state,
            expires_at=now,
            renew_at=now,
        )
    )
    db.flush()
    return answer


def granted_expiry(answer: dict, now: datetime) -> datetime:
    """The expirationDateTime Graph granted in a subscription answer (an hour when it is
    missing or unreadable: renewed early rather than lost)."""
    return _parse(answer.get("expirationDateTime")) or now + timedelta(hours=1)


def _apply(sub: GraphSubscription, answer: dict, now: datetime) -> None:
    """Renewal falls between 40 % and 60 % of the granted lifetime, at a point fixed per
    subscription: thousands created in the same hour (an organisation switched on at once)
    are renewed over hours, not in the same minute."""
    expires = granted_expiry(answer, now)
    sub.expires_at = expires
    spread = phase_of(hash_key(sub.user_id, sub.resource))
    sub.renew_at = now + (expires - now) * (RENEW_AT - RENEW_SPREAD / 2 + RENEW_SPREAD * spread)


def hash_key(user_id: int, resource: str) -> int:
    return zlib.crc32(f"{user_id}:{resource}".encode())


def subscription_watch(user_ids: list[int], now: datetime) -> tuple[set[int], set[int]]:
    """(mailboxes whose every subscription is live, mailboxes with a subscription due for
    renewal), in one query. Live mailboxes need only the safety poll; the others are
    polled at the normal interval; a renewal due makes a session due."""
    if not user_ids:
        return set(), set()
    wanted = len(resources_for(User(object_id="")))
    rows = (
        get_session()
        .execute(
            select(
                GraphSubscription.user_id,
                func.count(GraphSubscription.id),
                func.min(GraphSubscription.renew_at),
            )
            .where(GraphSubscription.user_id.in_(user_ids), GraphSubscription.expires_at > now)
            .group_by(GraphSubscription.user_id)
        )
        .all()
    )
    live = {user_id for user_id, count, _ in rows if count >= wanted}
    renew = {user_id for user_id, _, renew_at in rows if _aware(renew_at) <= now}
    return live, renew


def _aware(moment: datetime) -> datetime:
    """min() over a column comes back without the column type on SQLite: a naive UTC."""
    if isinstance(moment, str):
        moment = datetime.fromisoformat(moment)
    return moment if moment.tzinfo else moment.replace(tzinfo=UTC)


def _iso(moment: datetime) -> str:
    return moment.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.0000000Z")


def _parse(value) -> datetime | None:
    from ..mail.graph_parse import parse_datetime

    return parse_datetime(value)


def _validation() -> Response | None:
    token = request.args.get("validationToken")
    if token is None:
        return None
    return Response(token, 200, mimetype="text/plain")


def _verified(item: dict) -> GraphSubscription | None:
    sub_id = str(item.get("subscriptionId", ""))
    sub = get_session().scalar(
        select(GraphSubscription).where(GraphSubscription.subscription_id == sub_id)
    )
    given = str(item.get("clientState", "")).encode()
    if sub is None or not hmac.compare_digest(given, sub.client_state.encode()):
        return None
    return sub


def _notification_items() -> list[dict]:
    """The `value` array of a Graph notification POST (at most 100 objects; anything else in
    it is ignored). The body itself went through the JSON guard (server/request_guard.py)."""
    body = request.get_json(silent=True) or {}
    items = body.get("value")
    if not isinstance(items, list):
        return []
    return [item for item in items[:100] if isinstance(item, dict)]


@bp.post(NOTIFY_PATH)
@csrf_exempt
def notifications():
    handshake = _validation()
    if handshake is not None:
        return handshake
    users: set[int] = set()
    for item in _notification_items():
        sub = _verified(item)
        if sub is not None:
            users.add(sub.user_id)
    for user_id in users:
        enqueue_session(user_id, "webhook")
    return Response(b"", 202)


@bp.post(LIFECYCLE_PATH)
@csrf_exempt
def lifecycle():
    handshake = _validation()
    if handshake is not None:
        return handshake
    db = get_session()
    for item in _notification_items():
        sub = _verified(item)
        if sub is None:
            continue
        event = str(item.get("lifecycleEvent", ""))
        now = utcnow()
        if event == "reauthorizationRequired":
            # Still live until it expires: renewed by a session within a few minutes, at a
            # moment fixed per mailbox, so a tenant-wide event is not a burst of sessions.
            sub.renew_at = now
            mark_due(db, sub.user_id, sub.org_id, now + REAUTHORIZE_WITHIN * phase_of(sub.user_id))
        elif event == "subscriptionRemoved":
            sub.renew_at = sub.expires_at = now  # recreated by the next session
        if event in RESYNC_EVENTS:
            # Notifications may have been lost: read the mailbox now (delta catches up).
            enqueue_session(sub.user_id, "webhook")
    db.commit()
    return Response(b"", 202)
