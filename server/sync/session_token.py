"""Which Graph token a sync session uses: the organisation's app-only token for a mailbox
synced in application mode (server/auth/app_tokens.py), else the user's own delegated token
(server/auth/tokens.py). A user who signs in to the pane changes nothing for an
application-mode sync."""

from __future__ import annotations

from ..auth.app_tokens import app_graph_token
from ..auth.tokens import graph_token_for
from ..mail.graph_errors import GraphAuthError, MailboxOutOfScope
from ..models.tenancy import User
from .app_mode import synced_by_app


def session_token(user: User, force_refresh: bool = False, refused: str | None = None) -> str:
    if synced_by_app(user):
        return app_graph_token(user.organisation, force_refresh=force_refresh, refused=refused)
    return graph_token_for(user, force_refresh=force_refresh, refused=refused)


def token_after_refusal(user: User, refused: str, exc: GraphAuthError) -> str:
    """A new token after Graph refused `refused` (401/403), or MailboxOutOfScope when an
    app-only token was refused with 403: a token that got this far carries the mail and
    calendar permissions (app_graph_token checks), so the tenant keeps this mailbox out of
    the application's scope, and a new token would only be refused again."""
    if synced_by_app(user) and exc.status == 403:
        raise MailboxOutOfScope(str(exc), exc.status, exc.code) from exc
    return session_token(user, force_refresh=True, refused=refused)
