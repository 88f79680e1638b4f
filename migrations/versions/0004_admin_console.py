"""admin console: audit log, directory users, role sources, allow-list switch, setting locks

Revision ID: 0004_admin_console
Revises: 0001
"""

import sqlalchemy as sa
from alembic import op

import server.db

revision = "0004_admin_console"
down_revision = "0007_sessions_age_index"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "audit_events",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("org_id", sa.Integer(), nullable=False),
        sa.Column("created_at", server.db.UTCDateTime(timezone=True), nullable=False),
        sa.Column("actor_id", sa.Integer(), nullable=True),
        sa.Column("actor", sa.String(length=320), nullable=False),
        sa.Column("ip", sa.String(length=64), nullable=False),
        sa.Column("action", sa.String(length=64), nullable=False),
        sa.Column("target_type", sa.String(length=32), nullable=False),
        sa.Column("target_id", sa.String(length=64), nullable=False),
        sa.Column("target", sa.String(length=320), nullable=False),
        sa.Column("before", sa.JSON(), nullable=True),
        sa.Column("after", sa.JSON(), nullable=True),
        sa.ForeignKeyConstraint(
            ["actor_id"],
            ["users.id"],
            name=op.f("fk_audit_events_actor_id_users"),
            ondelete="SET NULL",
        ),
        sa.ForeignKeyConstraint(
            ["org_id"],
            ["organisations.id"],
            name=op.f("fk_audit_events_org_id_organisations"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_audit_events")),
    )
    op.create_index("ix_audit_events_org_created", "audit_events", ["org_id", "created_at"])
    op.create_table(
        "directory_users",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("org_id", sa.Integer(), nullable=False),
        sa.Column("object_id", sa.String(length=64), nullable=False),
        sa.Column("display_name", sa.String(length=200), nullable=False),
        sa.Column("email", sa.String(length=320), nullable=False),
        sa.Column("refreshed_at", server.db.UTCDateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["org_id"],
            ["organisations.id"],
            name=op.f("fk_directory_users_org_id_organisations"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_directory_users")),
        sa.UniqueConstraint(
            "org_id", "object_id", name=op.f("uq_directory_users_org_id_object_id")
        ),
    )
    with op.batch_alter_table("organisations") as batch:
        batch.add_column(
            sa.Column(
                "restrict_to_allowed", sa.Boolean(), server_default=sa.false(), nullable=False
            )
        )
        batch.add_column(
            sa.Column("directory_refreshed_at", server.db.UTCDateTime(timezone=True), nullable=True)
        )
    with op.batch_alter_table("users") as batch:
        batch.add_column(
            sa.Column("admin_by_directory", sa.Boolean(), server_default=sa.false(), nullable=False)
        )
        batch.add_column(
            sa.Column("admin_by_grant", sa.Boolean(), server_default=sa.false(), nullable=False)
        )
    with op.batch_alter_table("org_policies") as batch:
        batch.add_column(sa.Column("locked", sa.JSON(), nullable=True))
    # Existing admins keep their role as an explicit grant (nobody is locked out by the
    # upgrade); a list restriction that was in force stays in force behind the new switch.
    op.execute("UPDATE users SET admin_by_grant = true WHERE role = 'admin'")
    op.execute(
        "UPDATE organisations SET restrict_to_allowed = true WHERE id IN "
        "(SELECT org_id FROM org_allowed_users)"
    )
    op.execute("UPDATE org_policies SET locked = '[]'")
    with op.batch_alter_table("org_policies") as batch:
        batch.alter_column("locked", existing_type=sa.JSON(), nullable=False)


def downgrade() -> None:
    with op.batch_alter_table("org_policies") as batch:
        batch.drop_column("locked")
    with op.batch_alter_table("users") as batch:
        batch.drop_column("admin_by_grant")
        batch.drop_column("admin_by_directory")
    with op.batch_alter_table("organisations") as batch:
        batch.drop_column("directory_refreshed_at")
        batch.drop_column("restrict_to_allowed")
    op.drop_table("directory_users")
    op.drop_index("ix_audit_events_org_created", table_name="audit_events")
    op.drop_table("audit_events")
