"""`flask --app server render-manifest`, exactly as the README writes it, needs no Redis."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest
from lxml import etree

ROOT = Path(__file__).resolve().parents[2]


def test_render_manifest_runs_without_redis_url(tmp_path):
    env = {k: v for k, v in os.environ.items() if k not in {"REDIS_URL", "DATABASE_URL"}}
    env["INSTANCE_PATH"] = str(tmp_path)
    env["ADDIN_ID"] = "0f6d2b9e-3c51-4a7e-9d0b-6e2f1a8c4b73"  # a deployment's own GUID
    out = tmp_path / "courier-manifest.xml"
    result = subprocess.run(
        [sys.executable, "-m", "flask", "--app", "server", "render-manifest"]
        + ["--base-url", "https://courier.example.com", "--version", "1.2.0.0", "-o", str(out)],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert result.returncode == 0, result.stderr
    root = etree.parse(str(out)).getroot()
    assert root.findtext("{*}Version") == "1.2.0.0"
    assert "https://courier.example.com" in out.read_text()


def test_using_redis_without_url_names_the_setting(tmp_path):
    from server import create_app
    from server.queues import get_redis

    app = create_app({"ENV": "test", "DATABASE_URL": f"sqlite:///{tmp_path / 'c.db'}"})
    with app.app_context(), pytest.raises(RuntimeError, match="REDIS_URL is empty"):
        get_redis()
