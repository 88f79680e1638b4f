"""Switches of the sandbox identity provider, for tests and demos (JSON over HTTP).

POST /_sandbox/identity/expire-access-tokens            void every access token issued so far
POST /_sandbox/identity/rotate-keys                     new signing key (old one still published)
POST /_sandbox/identity/revoke-grant {tenant_id, object_id}   refresh tokens stop working
POST /_sandbox/identity/settings {access_token_lifetime}
POST /_sandbox/identity/roles {tenant_id, object_id, wids}   the user's directory roles now
POST /_sandbox/identity/mint {claims, headers, tenant_id, object_id, audience}
                                                        sign chosen claims (negative tests)
POST /_sandbox/identity/withhold-consent {tenant_id, permissions}
                                                        nobody consented to these yet
GET  /_sandbox/identity/stats                           token grants served, by grant type
"""

from __future__ import annotations

import time

from flask import Blueprint, jsonify, request

from . import identity_state as ids
from .directory import DEMO_USERS, find_user
from .identity_http import api_audiences, audience_of, base_url, clients

bp = Blueprint("sandbox_identity_switches", __name__)


@bp.post("/_sandbox/identity/expire-access-tokens")
def expire_access_tokens():
    return jsonify({"expired": ids.state().expire_access_tokens()})


@bp.post("/_sandbox/identity/rotate-keys")
def rotate_keys():
    return jsonify({"kid": ids.state().rotate_key()})


@bp.post("/_sandbox/identity/revoke-grant")
def revoke_grant():
    body = request.get_json(force=True)
    st = ids.state()
    with st.lock:
        removed = [
            key
            for key in st.grants
            if key[0] == body.get("tenant_id") and key[1] == body.get("object_id")
        ]
        for key in removed:
            del st.grants[key]
    return jsonify({"revoked": len(removed)})


@bp.post("/_sandbox/identity/withhold-consent")
def withhold_consent():
    body = request.get_json(force=True)
    st = ids.state()
    with st.lock:
        st.withheld[str(body.get("tenant_id", ""))] = set(body.get("permissions") or [])
    return jsonify({"withheld": sorted(st.withheld[str(body.get("tenant_id", ""))])})


@bp.post("/_sandbox/identity/settings")
def identity_settings():
    body = request.get_json(force=True)
    st = ids.state()
    if "access_token_lifetime" in body:
        st.access_token_lifetime = int(body["access_token_lifetime"])
    return jsonify({"access_token_lifetime": st.access_token_lifetime})


@bp.post("/_sandbox/identity/roles")
def set_roles():
    """An administrator assigned or removed directory roles (the `wids` of later tokens)."""
    body = request.get_json(force=True)
    user = find_user(body.get("tenant_id", ""), body.get("object_id", ""))
    if user is None:
        return jsonify({"error": "unknown user"}), 404
    wids = tuple(str(w) for w in body.get("wids") or ())
    st = ids.state()
    with st.lock:
        st.wids_overrides[(user.tenant_id, user.object_id)] = wids
    return jsonify({"wids": list(wids)})


@bp.post("/_sandbox/identity/mint")
def mint():
    """Sign arbitrary claims with the sandbox key: negative tests of our token validation."""
    body = request.get_json(force=True)
    user = find_user(body.get("tenant_id", ""), body.get("object_id", "")) or DEMO_USERS[0]
    now = int(time.time())
    claims = {
        "aud": body.get("audience") or audience_of(next(iter(api_audiences()), "")),
        "iss": ids.issuer_for(base_url(), user.tenant_id),
        "iat": now,
        "nbf": now,
        "exp": now + 3600,
        "scp": "access_as_user",
        "ver": "2.0",
        "azp": next(iter(clients())),
        "sub": ids.pairwise_sub(user, "mint"),
        "wids": list(user.wids),
        **ids.user_claims(user),
        **body.get("claims", {}),
    }
    claims = {k: v for k, v in claims.items() if v is not None}
    return jsonify({"token": ids.sign(ids.state(), claims, body.get("headers"))})


@bp.get("/_sandbox/identity/stats")
def stats():
    st = ids.state()
    return jsonify(
        {"grant_counts": dict(st.grant_counts), "kid": st.kid, "active_grants": len(st.grants)}
    )
