"""Is admin consent in place? Asked of Microsoft, not guessed: an admin's delegated token for
the directory permission (User.ReadBasic.All) and the Graph call that needs it.

Microsoft answers a missing consent at the token endpoint with invalid_grant AADSTS65001
("The user or administrator has not consented to use the application",
https://learn.microsoft.com/entra/identity-platform/reference-error-codes), and a token
without the permission at Graph with 403 Authorization_RequestDenied
(https://learn.microsoft.com/graph/api/user-list#permissions). The answer is kept for ten
minutes per organisation, so the Overview does not call Graph on every view; the consent
page's return clears it.
"""

from __future__ import annotations

import json

import requests
from flask import current_app

from ..auth.tokens import NeedsReauth, TokenUnavailable, graph_token_for
from ..mail.graph import GraphClient
from ..mail.graph_errors import GraphError
from ..models.tenancy import Organisation, User
from ..queues import get_redis
from .directory import DIRECTORY_SCOPES, connected_admins

CACHE_SECONDS = 600
PROBE = "users?$top=1&$select=id"


def _key(org_id: int) -> str:
    return f"courier:admin:consent:{org_id}"


def forget(org_id: int) -> None:
    """After a consent: ask Microsoft again. MSAL holds an identical refused token request
    for 60 seconds (its throttling of HTTP 400 answers, msal/throttled_http_client.py);
    a new consent is exactly when that memory is wrong, so this process drops it."""
    from ..auth.msal_client import _HTTP_CACHE

    get_redis().delete(_key(org_id))
    _HTTP_CACHE.clear()


def probe(admin: User) -> dict:
    """{"consented": True/False/None (could not tell), "detail": what Microsoft said}."""
    try:
        token = graph_token_for(admin, scopes=DIRECTORY_SCOPES)
    except TokenUnavailable as exc:
        text = str(exc)
        if "AADSTS65001" in text or "consent_required" in text:
            return {"consented": False, "detail": text[:300]}
        return {"consented": None, "detail": text[:300]}
    except NeedsReauth as exc:
        return {"consented": None, "detail": f"the admin must sign in again ({exc})"[:300]}
    client = GraphClient(
        current_app.config["GRAPH_BASE_URL"], token, admin.object_id, max_retries=1, timeout=10
    )
    try:
        client.get(PROBE)
    except GraphError as exc:
        if exc.status == 403:
            return {"consented": False, "detail": f"Graph answered 403: {exc}"[:300]}
        return {"consented": None, "detail": f"Graph answered: {exc}"[:300]}
    except requests.RequestException as exc:
        return {"consented": None, "detail": f"Graph unreachable: {type(exc).__name__}"}
    return {"consented": True, "detail": "the directory permission is granted"}


def consent_status(org: Organisation) -> dict:
    """The organisation's consent as the first signed-in admin's token shows it (cached)."""
    redis = get_redis()
    cached = redis.get(_key(org.id))
    if cached:
        return json.loads(cached)
    admins = connected_admins(org.id, limit=1)
    if not admins:
        return {"consented": None, "detail": "no admin has signed in with Microsoft yet"}
    found = probe(admins[0])
    redis.set(_key(org.id), json.dumps(found), ex=CACHE_SECONDS)
    return found
