"""Microsoft's real Office.js library (npm `@microsoft/office-js`, pinned in tests/officejs/)
for the browser tests: installed with `npm ci` on first use, served to Chromium at the URL the
pages name (OFFICE_JS_URL, Microsoft's CDN) from the package's files, and read for the other
URLs its Outlook host files load scripts from.

Test-only: Courier never serves these files (Microsoft supports only its CDN for add-ins)."""

from __future__ import annotations

import fcntl
import json
import re
import shutil
import subprocess
from collections.abc import Callable
from pathlib import Path
from urllib.parse import urlsplit

OFFICEJS_DIR = Path(__file__).resolve().parents[1] / "officejs"
PACKAGE_DIR = OFFICEJS_DIR / "node_modules" / "@microsoft" / "office-js"
DIST = PACKAGE_DIR / "dist"
# Script URLs written in the library, protocol-relative or absolute ('//host/path.js').
_SCRIPT_URL = re.compile(r"""["'](?:https?:)?//([a-z0-9.-]+\.[a-z]{2,})(/[^"'\s]*\.js)["']""")
_OUTLOOK_HOST_FILE = re.compile(r"^outlook-([a-z0-9]+)-([0-9.]+)\.js$")


def _wanted_version() -> str:
    manifest = json.loads((OFFICEJS_DIR / "package.json").read_text())
    return manifest["dependencies"]["@microsoft/office-js"]


def _installed_version() -> str | None:
    try:
        return json.loads((PACKAGE_DIR / "package.json").read_text())["version"]
    except (OSError, ValueError, KeyError):
        return None


def office_js_dist() -> Path:
    """The package's dist/ folder, installed from tests/officejs/package-lock.json if needed
    (one installer at a time across pytest-xdist workers)."""
    if _installed_version() == _wanted_version():
        return DIST
    npm = shutil.which("npm")
    if npm is None:
        raise RuntimeError("the Office.js browser tests need npm (Debian: apt-get install npm)")
    with open(OFFICEJS_DIR / ".install.lock", "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        if _installed_version() != _wanted_version():
            subprocess.run(
                [npm, "ci", "--no-audit", "--no-fund", "--loglevel=error"],
                cwd=OFFICEJS_DIR,
                check=True,
                timeout=600,
            )
    assert _installed_version() == _wanted_version()
    return DIST


def outlook_host_files(dist: Path) -> dict[str, str]:
    """{platform: newest Outlook host file} from the package: what office.js loads for each
    Outlook (`<host>-<platform>-<version>.js` beside office.js)."""
    newest: dict[str, tuple[tuple[int, ...], str]] = {}
    for path in dist.iterdir():
        match = _OUTLOOK_HOST_FILE.match(path.name)
        if not match:
            continue
        platform, version = match.groups()
        key = tuple(int(part) for part in version.split("."))
        if platform not in newest or key > newest[platform][0]:
            newest[platform] = (key, path.name)
    return {platform: name for platform, (_key, name) in newest.items()}


def external_scripts(dist: Path, file_names: list[str]) -> set[tuple[str, str]]:
    """(host, path) of every script URL written in these library files."""
    found: set[tuple[str, str]] = set()
    for name in file_names:
        found.update(_SCRIPT_URL.findall((dist / name).read_text(encoding="utf-8")))
    return found


def _library_file(dist: Path, relative: str) -> Path | None:
    """A file of the package by its path under the CDN directory (the CDN's names are
    case-insensitive: office.js asks for 'AgaveErrorUX/...', the package has 'agaveerrorux')."""
    for candidate in (relative, relative.lower()):
        path = (dist / candidate).resolve()
        if path.is_file() and path.is_relative_to(dist.resolve()):
            return path
    return None


def serve_office_js(
    context, office_js_url: str, dist: Path, on_request: Callable[[str], None] | None = None
) -> None:
    """Answer Chromium's requests for the Office.js directory from the package's files."""
    directory = office_js_url.rsplit("/", 1)[0] + "/"
    prefix = urlsplit(directory).path

    def handle(route) -> None:
        url = route.request.url
        if on_request:
            on_request(url)
        path = _library_file(dist, urlsplit(url).path.removeprefix(prefix))
        if path is None:
            route.fulfill(status=404, body="")
            return
        kind = "text/html" if path.suffix == ".html" else "text/javascript"
        route.fulfill(status=200, body=path.read_bytes(), content_type=kind)

    context.route(directory + "**", handle)
