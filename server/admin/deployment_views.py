"""Deployment page: the manifest for this server (version, download), the central deployment
steps, the "grant admin consent" round trip, and the preflight checks."""

from __future__ import annotations

import secrets
from collections.abc import Callable
from typing import Any
from urllib.parse import urlencode

from flask import current_app, g, redirect, render_template, request, session, url_for

from . import bp
from .audit import record_org_audit
from .consent_check import forget as forget_consent
from .deployment import manifest_text, manifest_version, preflight

CONSENT_STATE_KEY = "admin_consent_state"
# Tenant-wide consent for the delegated Graph permissions of the app registration.
CONSENT_SCOPE = "https://graph.microsoft.com/.default"


def _consent_return_url() -> str:
    return f"{current_app.config['BASE_URL'].rstrip('/')}{url_for('admin.consent_done')}"


@bp.get("/deployment")
def deployment():
    manifest, problem = manifest_text()
    checks = preflight(g.user) if request.args.get("preflight") else None
    return render_template(
        "admin/deployment.html",
        title="Deployment",
        manifest=manifest,
        manifest_problem=problem,
        version=manifest_version(),
        checks=checks,
        consent_return=_consent_return_url(),
    )


def admin_consent_redirect(state_key: str, return_url: str):
    """To Microsoft's admin consent page for the signed-in admin's tenant, with a fresh
    state kept in the session (https://learn.microsoft.com/entra/identity-platform/v2-admin-consent)."""
    state = secrets.token_urlsafe(24)
    session[state_key] = state
    query = urlencode(
        {
            "client_id": current_app.config["MS_CLIENT_ID"],
            "scope": CONSENT_SCOPE,
            "redirect_uri": return_url,
            "state": state,
        }
    )
    host = current_app.config["MS_AUTHORITY_HOST"].rstrip("/")
    return redirect(f"{host}/{g.org.tenant_id}/v2.0/adminconsent?{query}")


def consent_answer(state_key: str) -> bool | None:
    """Microsoft's answer on the return URL: None when this browser did not start it (state
    missing or different), else whether consent was granted for this organisation's tenant."""
    expected = session.pop(state_key, None)
    args = request.args
    if not expected or not secrets.compare_digest(expected, args.get("state", "")):
        return None
    return args.get("admin_consent") == "True" and args.get("tenant", "") == g.org.tenant_id


@bp.post("/deployment/consent")
def consent_start():
    return admin_consent_redirect(CONSENT_STATE_KEY, _consent_return_url())


@bp.get("/deployment/consent/done")
def consent_done():
    def answered(ok: bool, args) -> None:
        forget_consent(g.org.id)  # the Overview asks Microsoft again
        record_org_audit(
            g.org,
            "consent.granted" if ok else "consent.failed",
            after={"scope": args.get("scope", ""), "error": args.get("error", "")},
        )

    return consent_done_page(
        CONSENT_STATE_KEY,
        "admin/consent_done.html",
        "Admin consent",
        "Courier may now read mail and calendars for your organisation's users.",
        answered,
    )


def consent_done_page(
    state_key: str,
    template: str,
    title: str,
    granted: str,
    answered: Callable[[bool, Any], None],
    no_answer: str = "",
):
    """The return from Microsoft's admin consent page, for either consent: 400 when this
    browser did not start it; else `answered(ok, query args)` (record and audit), then the
    outcome, with Microsoft's error when consent was refused."""
    ok = consent_answer(state_key)
    if ok is None:
        message = "This consent answer was not started here; try again."
        return render_template(template, title=title, ok=False, message=message), 400
    args = request.args
    answered(ok, args)
    refused = args.get("error_description") or args.get("error") or no_answer
    message = granted if ok else f"Consent was not granted: {refused[:300]}"
    return render_template(template, title=title, ok=ok, message=message), 200 if ok else 400
