"""Deployment page: the manifest for this server (version, download), the central deployment
steps, the "grant admin consent" round trip, and the preflight checks."""

from __future__ import annotations

import secrets
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
    ok = consent_answer(CONSENT_STATE_KEY)
    args = request.args
    if ok is None:
        return render_template(
            "admin/consent_done.html",
            title="Admin consent",
            ok=False,
            message="This consent answer was not started here; try again.",
        ), 400
    forget_consent(g.org.id)  # the Overview asks Microsoft again
    record_org_audit(
        g.org,
        "consent.granted" if ok else "consent.failed",
        after={"scope": args.get("scope", ""), "error": args.get("error", "")},
    )
    message = (
        "Courier may now read mail and calendars for your organisation's users."
        if ok
        else f"Consent was not granted: {args.get('error_description') or args.get('error') or ''}"
    )
    return render_template(
        "admin/consent_done.html", title="Admin consent", ok=ok, message=message
    ), 200 if ok else 400
