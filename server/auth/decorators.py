"""Who is calling: one decorator per kind of caller, each setting flask.g.user and flask.g.org.

- `api_login_required`: JSON API. `Authorization: Bearer <token>` where the token is either our
  session token (from sign-in) or a Microsoft-issued access token for our API (validated in
  jwt_validation.py — the path nested app authentication will use). Never a cookie, so
  cross-site requests carry no ambient credential (no CSRF on the API).
- `login_required`: browser pages; the session token in Flask's signed session cookie,
  redirecting to sign-in when absent.
- `admin_required`: either of the above, then the admin role (403 otherwise).
"""

from __future__ import annotations

from collections.abc import Callable
from functools import wraps
from typing import Any, TypeVar

from flask import g, redirect, request, session, url_for

from ..errors import ApiError
from ..models.tenancy import User
from .identity import user_refused
from .sessions import is_session_token, user_for_session

F = TypeVar("F", bound=Callable[..., Any])
COOKIE_TOKEN_KEY = "session_token"  # noqa: S105 (a session key name, not a secret)


def bearer_token() -> str | None:
    header = request.headers.get("Authorization", "")
    scheme, _, value = header.partition(" ")
    if scheme.lower() != "bearer" or not value.strip():
        return None
    return value.strip()


def user_for_bearer(token: str) -> User | None:
    """Our session token, or a Microsoft access token for our API (signed, for us, unexpired)."""
    if is_session_token(token):
        return user_for_session(token)
    from .identity import user_from_access_token  # JWT path: keeps imports light for sessions

    return user_from_access_token(token)


# Marks, on this request itself, that it was authenticated. `g` lives on the app context,
# which requests can share (tests push one around many requests), so presence of g.user alone
# must never count as "authenticated".
_REQUEST_MARK = "courier.authenticated_user_id"


def _set_current(user: User) -> None:
    if user_refused(user):
        # The admin turned on "only allowed users" without this user: the pane says so.
        raise ApiError(
            403, "user_not_allowed", "Your administrator has not enabled Courier for your account."
        )
    g.user = user
    g.org = user.organisation
    request.environ[_REQUEST_MARK] = user.id


def _authenticated_in_this_request() -> bool:
    user = getattr(g, "user", None)
    return user is not None and request.environ.get(_REQUEST_MARK) == user.id


def _unauthorized() -> ApiError:
    return ApiError(401, "unauthorized", "Sign in to Courier to continue.")


def authenticate_api_request() -> User:
    token = bearer_token()
    user = user_for_bearer(token) if token else None
    if user is None:
        raise _unauthorized()
    _set_current(user)
    return user


def api_login_required(view: F) -> F:
    @wraps(view)
    def wrapper(*args: Any, **kwargs: Any):
        authenticate_api_request()
        return view(*args, **kwargs)

    return wrapper  # type: ignore[return-value]


def _is_json_path() -> bool:
    return request.path.startswith(("/api/", "/auth/api/", "/admin/api/"))


def login_required(view: F) -> F:
    @wraps(view)
    def wrapper(*args: Any, **kwargs: Any):
        user = user_for_session(session.get(COOKIE_TOKEN_KEY, ""))
        if user is None:
            return redirect(url_for("auth.signin_start", next=request.full_path))
        _set_current(user)
        return view(*args, **kwargs)

    return wrapper  # type: ignore[return-value]


def admin_required(view: F) -> F:
    """Admins only. Authenticates first (bearer on JSON paths, cookie on pages) unless an outer
    decorator already did."""

    @wraps(view)
    def wrapper(*args: Any, **kwargs: Any):
        if not _authenticated_in_this_request():
            if _is_json_path() or bearer_token():
                authenticate_api_request()
            else:
                user = user_for_session(session.get(COOKIE_TOKEN_KEY, ""))
                if user is None:
                    return redirect(url_for("auth.signin_start", next=request.full_path))
                _set_current(user)
        if not g.user.is_admin:
            raise ApiError(
                403, "forbidden", "Only an administrator of your organisation can do this."
            )
        return view(*args, **kwargs)

    return wrapper  # type: ignore[return-value]
