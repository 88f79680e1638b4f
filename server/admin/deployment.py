"""Deployment: the manifest for this server and the preflight checks, each green or red with
what to do about it."""

from __future__ import annotations

import re
from dataclasses import dataclass
from urllib.parse import urlsplit

import requests
from flask import current_app

from ..addin import check_version, render_manifest
from ..auth.tokens import NeedsReauth, TokenUnavailable, graph_token_for
from ..health import readiness
from ..http import make_http_session
from ..mail.graph import GraphClient
from ..mail.graph_errors import GraphError
from ..models.tenancy import User

URL_IN_MANIFEST = re.compile(r'(?:DefaultValue|Url)="(https://[^"]+)"')


@dataclass(frozen=True)
class Check:
    name: str
    ok: bool
    detail: str
    fix: str = ""


def manifest_text() -> tuple[str, str]:
    """(manifest, problem): the manifest for BASE_URL, or why it cannot be made."""
    try:
        return render_manifest(current_app.config["BASE_URL"]), ""
    except ValueError as exc:
        return "", str(exc)


def manifest_version() -> str:
    return check_version(current_app.config["SETTINGS"].ADDIN_VERSION)


def _base_url_check() -> Check:
    base = current_app.config["BASE_URL"]
    ok = base.startswith("https://")
    return Check(
        "BASE_URL is https",
        ok,
        base,
        ""
        if ok
        else "Set BASE_URL to this server's public https:// address: Outlook "
        "loads add-ins only over HTTPS.",
    )


def _manifest_urls_check(manifest: str, problem: str) -> Check:
    if not manifest:
        # The manifest cannot be made: a bad BASE_URL, version or a development ADDIN_ID.
        return Check("Every manifest URL is served", False, "no manifest", problem)
    urls = sorted(set(URL_IN_MANIFEST.findall(manifest)))
    base_host = urlsplit(current_app.config["BASE_URL"]).netloc
    failing = []
    http = make_http_session(ca_bundle=current_app.config.get("CA_BUNDLE") or None, timeout=5)
    try:
        for url in urls:
            if urlsplit(url).netloc != base_host:
                continue  # Microsoft's or another host's (icons of app domains)
            try:
                status = http.get(url, allow_redirects=False).status_code
            except requests.RequestException as exc:
                failing.append(f"{url} ({type(exc).__name__})")
                continue
            if status != 200:
                failing.append(f"{url} ({status})")
    finally:
        http.close()
    if failing:
        return Check(
            "Every manifest URL is served",
            False,
            "; ".join(failing[:5]),
            "Serve these through your reverse proxy at BASE_URL.",
        )
    return Check("Every manifest URL is served", True, f"{len(urls)} URLs answer 200")


def _entra_check() -> Check:
    config = current_app.config
    missing = [
        n for n in ("MS_CLIENT_ID", "MS_CLIENT_SECRET", "MS_API_AUDIENCE") if not config.get(n)
    ]
    dev = [
        n
        for n, v in (
            ("MS_CLIENT_ID", "courier-dev-client"),
            ("MS_CLIENT_SECRET", "courier-dev-secret"),
        )
        if config.get(n) == v
    ]
    if missing:
        return Check(
            "Entra settings are filled",
            False,
            f"missing {', '.join(missing)}",
            "Register the app in Entra and set these (README: Microsoft Entra).",
        )
    if dev and not config.get("SANDBOX_ENABLED"):
        return Check(
            "Entra settings are filled",
            False,
            f"development values in {dev}",
            "Use your app registration's client id and secret.",
        )
    return Check(
        "Entra settings are filled", True, "sandbox registration" if dev else config["MS_CLIENT_ID"]
    )


def _graph_check(admin: User) -> Check:
    name = "A Graph call works with an admin token"
    try:
        token = graph_token_for(admin)
        me = GraphClient(
            current_app.config["GRAPH_BASE_URL"], token, admin.object_id, max_retries=1, timeout=10
        ).get("me?$select=id,displayName")
    except (NeedsReauth, TokenUnavailable) as exc:
        return Check(name, False, f"no token: {exc}", "Sign in again, then grant admin consent.")
    except GraphError as exc:
        return Check(
            name,
            False,
            f"Graph answered: {exc}",
            "Check consent for Mail.Read, Calendars.Read and User.Read.",
        )
    except requests.RequestException as exc:
        return Check(
            name,
            False,
            f"Graph unreachable: {type(exc).__name__}",
            "Allow outbound HTTPS to graph.microsoft.com.",
        )
    return Check(name, True, f"GET /me answered for {me.get('displayName', '')}")


def _crm_check(admin: User) -> Check:
    adapter = current_app.config["CRM_ADAPTER"]
    if adapter != "salesforce":
        return Check("The CRM is connected", True, f"{adapter} CRM (built in)")
    from ..crm.salesforce.connect import connection_status

    status = connection_status(admin)
    if not status["connected"] or status["needs_reauth"]:
        return Check(
            "The CRM is connected",
            False,
            "your Salesforce login is not connected",
            "Connect Salesforce from the start page (each user connects their own).",
        )
    return Check("The CRM is connected", True, status.get("username", ""))


def preflight(admin: User) -> list[Check]:
    manifest, problem = manifest_text()
    ready = readiness()["checks"]
    running = [
        Check(
            f"{name.capitalize()} is running",
            c["ok"],
            c.get("error")
            or (
                f"heartbeat {c['heartbeat_age_seconds']} s ago"
                if c.get("heartbeat_age_seconds") is not None
                else "ok"
                if c["ok"]
                else "no heartbeat"
            ),
            ""
            if c["ok"]
            else {
                "redis": "Check REDIS_URL.",
                "worker": "Start `flask --app server worker`.",
                "scheduler": "Run one worker with the scheduler on.",
                "database": "Check DATABASE_URL.",
            }.get(name, ""),
        )
        for name, c in ready.items()
    ]
    checks = [
        _base_url_check(),
        _manifest_urls_check(manifest, problem),
        _entra_check(),
        _graph_check(admin),
        *running,
        _crm_check(admin),
    ]
    if admin.organisation.sync_mode == "application":
        from .app_preflight import app_mode_checks

        checks += app_mode_checks(admin.organisation)
    return checks
