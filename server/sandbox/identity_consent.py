"""The sandbox's admin consent endpoint, as Microsoft documents it
(https://learn.microsoft.com/entra/identity-platform/v2-admin-consent):

    GET /{tenant}/v2.0/adminconsent?client_id&scope&redirect_uri&state
        → a page where the tenant's administrator accepts or cancels
    POST (the page's form)
        → 302 redirect_uri?admin_consent=True&tenant=<tid>&scope=<scopes>&state=<state>
          or redirect_uri?error=access_denied&error_description=...&state=<state>

An unknown client gets an error page (no redirect), as Microsoft shows AADSTS700016.
"""

from __future__ import annotations

from urllib.parse import urlencode

from flask import Blueprint, render_template_string, request

from . import identity_state as ids
from .directory import DEMO_TENANT_ID
from .identity import _redirect_allowed
from .identity_app import grant
from .identity_http import clients

bp = Blueprint("sandbox_identity_consent", __name__)

_PAGE = """<!doctype html><html lang="en"><head><meta charset="utf-8">
<title>Permissions requested</title></head><body><main>
<h1>Permissions requested — accept for your organisation</h1>
<p>{{ client_id }} asks for: {{ scope }}</p>
<form method="post"><input type="hidden" name="decision" value="accept">
<button type="submit">Accept</button></form>
<form method="post"><input type="hidden" name="decision" value="cancel">
<button type="submit">Cancel</button></form></main></body></html>"""


@bp.route("/<tenant>/v2.0/adminconsent", methods=["GET", "POST"])
def admin_consent(tenant: str):
    args = request.args
    client_id = args.get("client_id", "")
    redirect_uri = args.get("redirect_uri", "")
    if client_id not in clients() or not _redirect_allowed(redirect_uri):
        return (
            "AADSTS700016: Application with identifier was not found in the directory.",
            400,
        )
    if request.method == "GET":
        return render_template_string(_PAGE, client_id=client_id, scope=args.get("scope", ""))
    tid = DEMO_TENANT_ID if tenant in ("organizations", "common") else tenant
    if request.form.get("decision") == "accept":
        if ".default" in args.get("scope", ""):
            # "/.default" consents to every permission configured on the registration, the
            # application permissions included (identity_app.py).
            grant(tid, client_id)
        # Consent for the organisation: no delegated permission is withheld any more.
        with ids.state().lock:
            ids.state().withheld.pop(tid, None)
        back = {
            "admin_consent": "True",
            "tenant": tid,
            "scope": args.get("scope", ""),
            "state": args.get("state", ""),
        }
    else:
        back = {
            "error": "access_denied",
            "error_description": "AADSTS65004: The admin canceled the consent.",
            "state": args.get("state", ""),
        }
    return "", 302, {"Location": f"{redirect_uri}?{urlencode(back)}"}
