"""The task pane's static files, the add-in manifest (download + `render-manifest` CLI).

The pane is plain files under addin/ (no build step); scripts and style sheets are served
minified (addin_assets.py). HTML is never cached so a deployment
takes effect at once; images are cacheable, as Outlook requires for icon URLs.
"""

from __future__ import annotations

import mimetypes
import re
from pathlib import Path
from urllib.parse import urlsplit

import click
from flask import (
    Blueprint,
    Flask,
    Response,
    abort,
    current_app,
    render_template,
    request,
    send_from_directory,
)
from markupsafe import Markup
from werkzeug.security import safe_join

from .addin_assets import minified, warm
from .config import PROJECT_ROOT, Settings
from .csp import pane_policy
from .errors import ApiError
from .security import allowed_frame_ancestors, page_is_secure

ADDIN_DIR = PROJECT_ROOT / "addin"
bp = Blueprint("addin", __name__)

# Werkzeug adds "; charset=utf-8" to text types itself (naming it here repeated it).
CONTENT_TYPES = {
    ".html": "text/html",
    ".js": "text/javascript",
    ".css": "text/css",
    ".png": "image/png",
    ".svg": "image/svg+xml",
    ".json": "application/json",
}
IMAGE_MAX_AGE = 7 * 24 * 3600
# The Office.js tag in addin/*.html, rewritten when OFFICE_JS_URL points elsewhere.
DEFAULT_OFFICE_JS_TAG = f'<script src="{Settings.OFFICE_JS_URL}"></script>'
VERSION_RE = re.compile(r"^[0-9]{1,5}(\.[0-9]{1,5}){0,3}$")
LOCAL_HOSTS = {"localhost", "127.0.0.1", "::1"}


@bp.get("/addin/<path:filename>")
def static_file(filename: str) -> Response:
    suffix = Path(filename).suffix.lower()
    if suffix not in CONTENT_TYPES or filename.startswith(".") or "/." in filename:
        abort(404)
    is_image = suffix in {".png", ".svg"}
    if suffix in (".js", ".css"):
        return _minified_file(filename, suffix)
    response = send_from_directory(
        ADDIN_DIR,
        filename,
        mimetype=CONTENT_TYPES[suffix],
        max_age=IMAGE_MAX_AGE if is_image else None,
        conditional=suffix != ".html",
    )
    if suffix == ".html":
        _use_configured_office_js(response)
        response.headers["Cache-Control"] = "no-store"
        response.headers["Content-Security-Policy"] = pane_policy(
            current_app.config["OFFICE_JS_URL"], page_is_secure(), allowed_frame_ancestors()
        )
    elif not is_image:
        response.headers["Cache-Control"] = "no-cache"
    response.headers["X-Content-Type-Options"] = "nosniff"
    return response


def _minified_file(filename: str, suffix: str) -> Response:
    """Scripts and style sheets are served minified (addin_assets.py), revalidated by ETag."""
    joined = safe_join(str(ADDIN_DIR), filename)
    if joined is None or not Path(joined).is_file():
        abort(404)
    data, etag = minified(Path(joined))
    response = Response(data, mimetype=CONTENT_TYPES[suffix])
    response.set_etag(etag)
    response.headers["Cache-Control"] = "no-cache"
    response.headers["X-Content-Type-Options"] = "nosniff"
    return response.make_conditional(request)


def _use_configured_office_js(response: Response) -> None:
    url = current_app.config["OFFICE_JS_URL"]
    if url == Settings.OFFICE_JS_URL:
        return
    response.direct_passthrough = False
    tag = Markup('<script src="{}"></script>').format(url)
    response.set_data(response.get_data(as_text=True).replace(DEFAULT_OFFICE_JS_TAG, tag))


def check_base_url(base_url: str) -> str:
    """The base URL without a trailing slash; Outlook loads add-ins only over HTTPS."""
    url = base_url.strip().rstrip("/")
    parts = urlsplit(url)
    if parts.scheme != "https" or not parts.netloc or parts.query or parts.fragment:
        raise ValueError(f"base URL must be an https:// URL without query, got {base_url!r}")
    return url


def check_version(version: str) -> str:
    if not VERSION_RE.match(version):
        raise ValueError(f"version must look like 1.0.0.0, got {version!r}")
    return version


def check_addin_id(addin_id: str, base_url: str) -> str:
    """Each deployment has its own add-in GUID: Outlook tells add-ins apart by <Id>, so two
    deployments sharing one would replace each other. The development id is for localhost."""
    host = urlsplit(base_url).hostname or ""
    if addin_id == Settings.ADDIN_ID and host not in LOCAL_HOSTS:
        raise ValueError(
            "ADDIN_ID is the development id: set a GUID of this deployment's own "
            "(python -c 'import uuid; print(uuid.uuid4())')"
        )
    return addin_id


def render_manifest(base_url: str, version: str | None = None) -> str:
    settings = current_app.config["SETTINGS"]
    domains = [check_base_url(d) for d in settings.ADDIN_APP_DOMAINS]
    url = check_base_url(base_url)
    return render_template(
        "manifest.xml",
        base_url=url,
        version=check_version(version or settings.ADDIN_VERSION),
        addin_id=check_addin_id(settings.ADDIN_ID, url),
        app_domains=domains,
    )


@bp.get("/addin/manifest.xml")
def manifest() -> Response:
    try:
        text = render_manifest(current_app.config["BASE_URL"])
    except ValueError as exc:
        if "ADDIN_ID" in str(exc):
            raise ApiError(409, "addin_id_not_set", str(exc)) from None
        raise ApiError(
            409, "base_url_not_https", f"Set BASE_URL to this server's HTTPS URL: {exc}"
        ) from None
    return Response(
        text,
        mimetype="application/xml",
        headers={"Content-Disposition": 'attachment; filename="courier-manifest.xml"'},
    )


@click.command("render-manifest", help="Write the add-in manifest for a deployment.")
@click.option("--base-url", required=True, help="Public HTTPS URL of this server.")
@click.option("--version", "version", default=None, help="Manifest version, e.g. 1.0.1.0.")
@click.option("--output", "-o", type=click.Path(dir_okay=False), default="-", show_default=True)
def render_manifest_command(base_url: str, version: str | None, output: str) -> None:
    try:
        text = render_manifest(base_url, version)
    except ValueError as exc:
        raise click.BadParameter(str(exc)) from None
    with click.open_file(output, "w", encoding="utf-8") as fh:
        fh.write(text)
    if output != "-":
        click.echo(f"wrote {output}", err=True)


def init_app(app: Flask) -> None:
    mimetypes.add_type("text/javascript", ".js")
    app.register_blueprint(bp)
    warm(ADDIN_DIR)
    app.cli.add_command(render_manifest_command)
