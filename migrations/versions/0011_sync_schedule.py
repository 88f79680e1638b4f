"""sync schedule: when each mailbox is next due

Revision ID: 0011_sync_schedule
Revises: 0001
"""

from alembic import op
import sqlalchemy as sa
import server.db


revision = "0011_sync_schedule"
down_revision = "0004_admin_console"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "sync_schedules",
        sa.Column("user_id", sa.Integer(), nullable=False),
        sa.Column("org_id", sa.Integer(), nullable=False),
        sa.Column("due_at", server.db.UTCDateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["org_id"],
            ["organisations.id"],
            name=op.f("fk_sync_schedules_org_id_organisations"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["user_id"],
            ["users.id"],
            name=op.f("fk_sync_schedules_user_id_users"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("user_id", name=op.f("pk_sync_schedules")),
    )
    with op.batch_alter_table("sync_schedules", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_sync_schedules_due_at"), ["due_at"], unique=False)
    # Every mailbox connected before this revision is looked at by the next tick.
    long_ago = "'2000-01-01 00:00:00'"
    if op.get_bind().dialect.name == "postgresql":
        long_ago = "TIMESTAMPTZ '2000-01-01 00:00:00+00'"
    op.execute(
        "INSERT INTO sync_schedules (user_id, org_id, due_at) "
        f"SELECT user_id, org_id, {long_ago} FROM microsoft_connections"
    )


def downgrade() -> None:
    with op.batch_alter_table("sync_schedules", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_sync_schedules_due_at"))
    op.drop_table("sync_schedules")
