"""`flask admin grant <email>` / `list` / `revoke <email>`: the first admin of an organisation
that has no Global Administrator signing in, and recovery. The person must have signed in
once (users are known by tenant + object id, which only a sign-in tells us)."""

from __future__ import annotations

import click
from flask import Flask
from flask.cli import AppGroup
from sqlalchemy import func, select

from ..auth.roles import role_sources
from ..db import get_session
from ..models.tenancy import Organisation, User
from .roles_service import set_admin

admin_cli = AppGroup("admin", help="Courier admins: grant, list, revoke.")
CLI_ACTOR = "command line (flask admin)"


def _find(email: str, tenant: str | None) -> User:
    query = select(User).where(func.lower(User.email) == email.strip().lower())
    if tenant:
        query = query.where(User.tenant_id == tenant.lower())
    users = list(get_session().scalars(query))
    if not users:
        raise click.ClickException(
            f"No user {email} has signed in yet: they sign in once on the start page first."
        )
    if len(users) > 1:
        raise click.ClickException(f"{email} is in several organisations: add --tenant <id>.")
    return users[0]


@admin_cli.command("grant")
@click.argument("email")
@click.option("--tenant", default=None, help="Tenant id, when the address is in several.")
def grant(email: str, tenant: str | None) -> None:
    user = _find(email, tenant)
    set_admin(user, True, actor_label=CLI_ACTOR)
    click.echo(f"{user.email} is an admin of {user.organisation.name}.")


@admin_cli.command("revoke")
@click.argument("email")
@click.option("--tenant", default=None, help="Tenant id, when the address is in several.")
def revoke(email: str, tenant: str | None) -> None:
    user = _find(email, tenant)
    set_admin(user, False, actor_label=CLI_ACTOR)
    if user.is_admin:
        click.echo(f"{user.email} stays an admin: their directory role makes them one.")
    else:
        click.echo(f"{user.email} is no longer an admin.")


@admin_cli.command("list")
def list_admins() -> None:
    rows = get_session().execute(
        select(User, Organisation.name)
        .join(Organisation, Organisation.id == User.org_id)
        .where(User.role == "admin")
        .order_by(Organisation.name, User.email)
    )
    for user, org_name in rows:
        click.echo(f"{org_name}\t{user.email}\t{', '.join(role_sources(user))}")


def init_app(app: Flask) -> None:
    app.cli.add_command(admin_cli)
