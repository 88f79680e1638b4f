"""The start page: what is running, and links to what exists."""

from __future__ import annotations

from flask import Blueprint, current_app, render_template, url_for

from .health import readiness

bp = Blueprint("pages", __name__)

# (endpoint, label, what it is). Only endpoints the app has are linked, so parts that land
# later appear here by themselves.
LINKS = (
    ("auth.signin_start", "Sign in with Microsoft", "Sign in to Courier with your work account."),
    (
        "preview.preview",
        "Try the Outlook sidebar",
        "The real task pane beside a simulated Outlook.",
    ),
    ("crm_pages.accounts", "Built-in CRM", "Accounts, contacts, leads and opportunities."),
    (
        "salesforce_connect.connect_page",
        "Connect Salesforce",
        "Connect your own Salesforce login (when the CRM is Salesforce).",
    ),
    ("admin.console", "Admin console", "Data controls, users and sync health."),
    ("addin.manifest", "Add-in manifest", "The manifest for central deployment."),
    ("api.openapi", "API description", "OpenAPI document of the pane's JSON API."),
    ("health.readyz", "Readiness", "Database, Redis, worker and scheduler, as JSON."),
)


def _applies(endpoint: str) -> bool:
    """Links that only make sense for one CRM are shown only when it is the configured one."""
    adapter = current_app.config["CRM_ADAPTER"]
    if endpoint.startswith("crm_pages."):
        return adapter == "builtin"
    if endpoint == "salesforce_connect.connect_page":
        return adapter == "salesforce"
    return True


@bp.get("/")
def home():
    links = [
        {"url": url_for(endpoint), "label": label, "about": about}
        for endpoint, label, about in LINKS
        if endpoint in current_app.view_functions and _applies(endpoint)
    ]
    return render_template(
        "home.html",
        status=readiness(),
        links=links,
        crm_adapter=current_app.config["CRM_ADAPTER"],
        sandbox=current_app.config["SANDBOX_ENABLED"],
    )
