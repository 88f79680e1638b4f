"""Serve the sandbox over HTTPS: `python -m server.sandbox [--port 8010] [--host 127.0.0.1]`.

The development CA and server certificate are created on first start under instance/devca/
(or --ca-dir); point CA_BUNDLE at the printed ca.pem.
"""

from __future__ import annotations

import argparse
from pathlib import Path

from werkzeug.serving import run_simple

from ..config import load_settings
from .app import config_from_settings, create_sandbox_app
from .devca import ensure_dev_ca, ssl_context_for


def main(argv: list[str] | None = None) -> None:
    settings = load_settings()
    parser = argparse.ArgumentParser(prog="python -m server.sandbox")
    parser.add_argument("--port", type=int, default=settings.SANDBOX_PORT)
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--ca-dir", default=str(Path(settings.INSTANCE_PATH) / "devca"))
    args = parser.parse_args(argv)
    if settings.is_production:
        raise SystemExit("the sandbox is refused in production settings")
    paths = ensure_dev_ca(args.ca_dir)
    app = create_sandbox_app(config_from_settings(settings))
    print(f"sandbox: https://{args.host}:{args.port}  CA bundle: {paths.ca_cert}", flush=True)
    run_simple(
        args.host,
        args.port,
        app,
        threaded=True,
        ssl_context=ssl_context_for(paths),
        use_reloader=False,
    )


if __name__ == "__main__":
    main()
