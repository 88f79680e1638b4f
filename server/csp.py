"""Content-Security-Policy of each kind of page, built from what the pages really load.

Pure functions (no Flask): security.py and addin.py put them on responses, config.py uses the
checks to refuse bad settings at start.

What Office.js loads (read in @microsoft/office-js 1.1.110, the library Microsoft serves from
appsforoffice.microsoft.com/lib/1/hosted/; tests/e2e/test_officejs_csp.py loads it under our
real headers):
- its host file (`outlook-web-16.01.js`, `outlook-win32-16.02.js`, ...), locale strings
  (`en-us/office_strings.js`), telemetry scripts and, for an untrusted host, an error page in
  an iframe (`AgaveErrorUX/index.html`): all beside office.js itself
  (`LoadScriptHelper.getOfficeJsBasePath`), so the policy allows that directory, not the host;
- every Outlook host file sets `requiresMsAjax = true` and loads
  `//ajax.aspnetcdn.com/ajax/3.5/MicrosoftAjax.js` (`MicrosoftAjaxFactory.loadMsAjaxFull`,
  with the page's own scheme); office.js waits for it before `Office.onReady` resolves, so a
  policy without it leaves sign-in stuck (OfficeDev/office-js#1005 lists the same host).
  Only that one file is allowed: the rest of that public CDN (old AngularJS, jQuery...) would
  let an injected tag run script despite the policy.
Office.js also posts telemetry to *.pipe.aria.microsoft.com; that is not needed for the add-in
to work and stays blocked (connect-src 'self').
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Sequence
from functools import lru_cache
from urllib.parse import urlsplit

# Hosts that frame the task pane, from Microsoft's list of frame-ancestors for Microsoft 365
# hosts (learn.microsoft.com/microsoftteams/platform/tabs/how-to/tab-requirements: Outlook
# outlook.office.com / outlook.office365.com, the Microsoft 365 app *.office.com, all hosts
# *.cloud.microsoft), plus Outlook.com (outlook.live.com). Government clouds and on-premises
# Outlook on the web are added with FRAME_ANCESTORS_EXTRA (README, "Deployment").
OUTLOOK_FRAME_ANCESTORS = (
    "https://outlook.office.com",
    "https://outlook.office365.com",
    "https://outlook.live.com",
    "https://outlook.cloud.microsoft",
    "https://*.office.com",
    "https://*.office365.com",
    "https://*.cloud.microsoft",
)
MICROSOFT_AJAX = "//ajax.aspnetcdn.com/ajax/3.5/MicrosoftAjax.js"
# Office.js refuses to start under any other file name ("Office Web Extension script library
# file name should be office.js or office.debug.js", office.debug.js `initialize`).
OFFICE_JS_NAMES = ("office.js", "office.debug.js")
_HOST = re.compile(r"^(\*\.)?([a-z0-9]([a-z0-9-]*[a-z0-9])?\.)*[a-z0-9]([a-z0-9-]*[a-z0-9])?$")


def check_frame_ancestor(value: str) -> str:
    """An https origin (`https://host[:port]`, `https://*.host` for its subdomains)."""
    parts = urlsplit(value.strip())
    host = (parts.hostname or "").lower()
    try:
        port = parts.port
    except ValueError:
        port = -1
    valid = (
        parts.scheme == "https"
        and _HOST.match(host) is not None
        and "." in host.removeprefix("*.")
        and parts.path in ("", "/")
        and not parts.query
        and not parts.fragment
        and not parts.username
        and port != -1
        and (port is None or 0 < port < 65536)
    )
    if not valid:
        raise ValueError(
            f"{value!r} is not an https origin (https://host[:port] or https://*.host)"
        )
    return f"https://{host}" + (f":{port}" if port else "")


def check_office_js_url(url: str) -> str:
    parts = urlsplit(url)
    name = parts.path.rsplit("/", 1)[-1]
    if parts.scheme != "https" or not parts.netloc or parts.query or name not in OFFICE_JS_NAMES:
        raise ValueError(f"{url!r} is not an https URL of office.js or office.debug.js")
    return url


def office_js_directory(office_js_url: str) -> str:
    return office_js_url.rsplit("/", 1)[0] + "/"


def office_script_sources(office_js_url: str, secure: bool) -> list[str]:
    """What a page that loads Office.js must allow as script (see the module's docstring).
    MicrosoftAjax comes with the page's scheme: http only for a plain-HTTP development page."""
    return [office_js_directory(office_js_url), f"{'https' if secure else 'http'}:{MICROSOFT_AJAX}"]


def frame_ancestors(extra: Iterable[str] = ()) -> list[str]:
    return list(_frame_ancestors(tuple(extra)))


# Every response carries a policy and the settings behind it never change while a process
# runs, so each policy is built once per kind of page (pure functions of hashable arguments).
@lru_cache(maxsize=32)
def _frame_ancestors(extra: tuple[str, ...]) -> tuple[str, ...]:
    return ("'self'", *OUTLOOK_FRAME_ANCESTORS, *(check_frame_ancestor(v) for v in extra))


def _render(directives: dict[str, Sequence[str]]) -> str:
    return "; ".join(f"{name} {' '.join(values)}" for name, values in directives.items())


def page_policy(
    authority_host: str, ancestors: Sequence[str], office_js_url: str = "", secure: bool = True
) -> str:
    """Server-rendered pages; `office_js_url` only for the ones that load Office.js."""
    return _page_policy(authority_host, tuple(ancestors), office_js_url, secure)


@lru_cache(maxsize=64)
def _page_policy(
    authority_host: str, ancestors: tuple[str, ...], office_js_url: str, secure: bool
) -> str:
    origin = urlsplit(authority_host)
    scripts = office_script_sources(office_js_url, secure) if office_js_url else []
    frames = [office_js_directory(office_js_url)] if office_js_url else []
    return _render(
        {
            "default-src": ["'self'"],
            "script-src": ["'self'", *scripts],
            # Our templates carry one <style> block each; no inline scripts anywhere.
            "style-src": ["'self'", "'unsafe-inline'"],
            "img-src": ["'self'", "data:"],
            "font-src": ["'self'", "data:"],
            "connect-src": ["'self'"],
            "frame-src": ["'self'", *frames],
            "object-src": ["'none'"],
            "base-uri": ["'self'"],
            # Chrome applies form-action to a form's redirects: sign-in continues there.
            "form-action": ["'self'", f"{origin.scheme}://{origin.netloc}"],
            "frame-ancestors": list(ancestors),
        }
    )


def pane_policy(office_js_url: str, secure: bool, ancestors: Sequence[str]) -> str:
    """The task pane (static files under addin/): everything from our origin but Office.js.
    No inline style: the pane has none, and Office.js styles elements through the CSSOM."""
    return _pane_policy(office_js_url, secure, tuple(ancestors))


@lru_cache(maxsize=32)
def _pane_policy(office_js_url: str, secure: bool, ancestors: tuple[str, ...]) -> str:
    return _render(
        {
            "default-src": ["'self'"],
            "script-src": ["'self'", *office_script_sources(office_js_url, secure)],
            "style-src": ["'self'"],
            "img-src": ["'self'", "data:"],
            "connect-src": ["'self'"],
            "frame-src": ["'self'", office_js_directory(office_js_url)],
            "object-src": ["'none'"],
            "base-uri": ["'self'"],
            "form-action": ["'self'"],
            "frame-ancestors": list(ancestors),
        }
    )
