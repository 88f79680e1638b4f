"""Flask CLI commands that are not owned by a single module (`flask --app server ...`)."""

from __future__ import annotations

from flask import Flask


def init_app(app: Flask) -> None:
    from .auth.key_rotation import rotate_keys_command
    from .demo import seed_demo_command
    from .retention import prune_command

    app.cli.add_command(seed_demo_command)
    app.cli.add_command(prune_command)
    app.cli.add_command(rotate_keys_command)
