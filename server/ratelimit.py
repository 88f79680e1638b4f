"""Sign-in rate limits with Flask-Limiter, counted in Redis (fixed one-minute windows).

What a limit is keyed by decides whom it locks out. Keyed by client address alone, one
address's junk (a shared NAT, a corporate proxy) locks out everyone behind it. So each request
is counted against the most specific thing an attacker cannot share with a victim:

1. the one-time code it redeems (POST /auth/api/exchange): guessing at one code burns that
   code's attempts only, never another person's code;
2. else this browser's own session (a random id in Flask's signed session cookie, set on the
   first limited request): an attacker cannot plant it in a victim's browser or read it;
3. and a request that brings neither (no code, not our cookie) counts against its client
   address too (the socket's, or the trusted proxy's X-Forwarded-For, see security.py): a
   client that throws our cookie away is still counted.

Keys 1 and 2 cost an attacker nothing to vary (any new code, no cookie), so every request also
counts against a wider per-address ceiling (SIGNIN_ADDRESS_LIMIT_PER_MINUTE) that bounds a
flood from one address without touching the ordinary traffic behind it.

Over a limit: 429 with Retry-After and the JSON error shape. If Redis is
unreachable the limits are not applied (swallow_errors): sign-in stays available, and the
failure is logged by Flask-Limiter.
Docs: https://flask-limiter.readthedocs.io/en/stable/ (rate limit key functions, dynamic limits).
"""

from __future__ import annotations

import hashlib
import secrets

from flask import Flask, current_app, request, session
from flask_limiter import Limiter, RateLimitExceeded
from flask_limiter.util import get_remote_address

from .errors import ApiError, error_response

BROWSER_ID_KEY = "rl_browser"
LIMITED_ATTR = "_courier_signin_limited"  # marks the views `signin_limits` decorated


def _digest(value: str) -> str:
    return hashlib.sha256(value.encode()).hexdigest()[:32]


def _one_time_code() -> str:
    if request.endpoint != "auth.exchange":
        return ""
    try:
        body = request.get_json(silent=True)
    except ApiError:  # refused by the JSON guard: the view answers 400; count the caller
        return ""
    code = body.get("code") if isinstance(body, dict) else None
    return code if isinstance(code, str) else ""


def _browser_id() -> tuple[str, bool]:
    """This browser's rate-limit id and whether it came with the request (computed once per
    request: a new id is minted into the session cookie for the next requests)."""
    cached = request.environ.get("courier.ratelimit.browser")
    if cached is None:
        given = session.get(BROWSER_ID_KEY)
        if isinstance(given, str) and given:
            cached = (given, True)
        else:
            cached = (secrets.token_urlsafe(16), False)
            session[BROWSER_ID_KEY] = cached[0]
        request.environ["courier.ratelimit.browser"] = cached
    return cached


def signin_key() -> str:
    """The one-time code, else this browser's session."""
    code = _one_time_code()
    if code:
        return f"code:{_digest(code)}"
    return f"session:{_digest(_browser_id()[0])}"


def _known_caller() -> bool:
    """True when the request is counted by something of its own (a code or our cookie); only
    the others are counted by address as well."""
    return bool(_one_time_code()) or _browser_id()[1]


def _per_key_limit() -> str:
    return f"{current_app.config['SIGNIN_RATE_LIMIT_PER_MINUTE']}/minute"


def _per_address_limit() -> str:
    return f"{current_app.config['SIGNIN_ADDRESS_LIMIT_PER_MINUTE']}/minute"


limiter = Limiter(
    key_func=get_remote_address,
    strategy="fixed-window",
    headers_enabled=True,
    swallow_errors=True,
    key_prefix="courier",
)


def signin_limits(bucket: str):
    """The limits of one sign-in endpoint; `bucket` names its counters in Redis."""
    per_key = limiter.limit(_per_key_limit, key_func=signin_key, scope=f"{bucket}:key")
    cookieless = limiter.limit(
        _per_key_limit,
        key_func=get_remote_address,
        scope=f"{bucket}:new",
        exempt_when=_known_caller,
    )
    ceiling = limiter.limit(
        _per_address_limit, key_func=get_remote_address, scope=f"{bucket}:address"
    )

    def decorate(view):
        limited = ceiling(cookieless(per_key(view)))
        setattr(limited, LIMITED_ATTR, True)
        return limited

    return decorate


@limiter.request_filter
def _unlimited_endpoint() -> bool:
    """Only the sign-in endpoints have limits (there are no default limits): every other
    request skips Flask-Limiter's per-request bookkeeping, 3–6 % of a no-op's CPU
    (bench/load.py). Attributes survive functools.wraps, so an outer decorator keeps the mark."""
    view = current_app.view_functions.get(request.endpoint or "")
    return not getattr(view, LIMITED_ATTR, False)


def _too_many_requests(_exc: RateLimitExceeded):
    # Flask-Limiter adds Retry-After (headers_enabled) in its after-request hook.
    return error_response(429, "rate_limited", "Too many attempts; wait a minute and try again.")


def storage_uri(redis_url: str) -> str:
    """Our REDIS_URL in the form the `limits` library reads (unix sockets: redis+unix://)."""
    if redis_url.startswith("unix://"):
        return "redis+unix://" + redis_url[len("unix://") :]
    return redis_url


def init_app(app: Flask) -> None:
    redis_url = app.config["REDIS_URL"]
    # Without Redis only CLI commands run (production refuses an empty REDIS_URL); saying
    # memory:// keeps Flask-Limiter from warning about production use in `render-manifest`.
    app.config["RATELIMIT_STORAGE_URI"] = storage_uri(redis_url) if redis_url else "memory://"
    limiter.init_app(app)
    app.register_error_handler(RateLimitExceeded, _too_many_requests)
