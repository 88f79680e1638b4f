"""The pane's scripts and style sheet as served: minified once per file version, then cached.

The files under addin/ stay readable (comments say why); Outlook loads the minified copy, so
the pane's JS + CSS budget (60 KB, tests/integration/test_manifest.py) is measured on the
bytes served. rjsmin/rcssmin only drop comments and whitespace: the code is the same.
"""

from __future__ import annotations

import hashlib
import threading
from pathlib import Path

import rcssmin
import rjsmin

_lock = threading.Lock()
# path -> ((mtime_ns, size), minified bytes, etag): a changed file is minified again.
_cache: dict[Path, tuple[tuple[int, int], bytes, str]] = {}


def minified(path: Path) -> tuple[bytes, str]:
    """The minified bytes of a .js or .css file and their ETag."""
    stat = path.stat()
    version = (stat.st_mtime_ns, stat.st_size)
    hit = _cache.get(path)
    if hit is not None and hit[0] == version:
        return hit[1], hit[2]
    text = path.read_text(encoding="utf-8")
    small = rcssmin.cssmin(text) if path.suffix == ".css" else rjsmin.jsmin(text)
    data = small.encode("utf-8")
    etag = hashlib.sha256(data).hexdigest()[:32]
    with _lock:
        _cache[path] = (version, data, etag)
    return data, etag


def warm(folder: Path) -> None:
    """Minify every script and style sheet once at startup, so no request pays for it."""
    for path in sorted(folder.iterdir()):
        if path.suffix in (".js", ".css") and path.is_file():
            minified(path)
