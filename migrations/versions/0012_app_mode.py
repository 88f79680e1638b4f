"""application mode: org sync mode and app grant state, per-user app scope, app token cache

Revision ID: 0012_app_mode
Revises: 0010_race
"""

import sqlalchemy as sa
from alembic import op

import server.db

revision = "0012_app_mode"
down_revision = "0010_race"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("organisations", schema=None) as batch_op:
        batch_op.add_column(
            sa.Column("sync_mode", sa.String(length=16), server_default="delegated", nullable=False)
        )
        batch_op.add_column(
            sa.Column("app_consent_at", server.db.UTCDateTime(timezone=True), nullable=True)
        )
        batch_op.add_column(
            sa.Column("app_grant_error", sa.String(length=500), server_default="", nullable=False)
        )
        batch_op.add_column(
            sa.Column("app_grant_checked_at", server.db.UTCDateTime(timezone=True), nullable=True)
        )
    with op.batch_alter_table("users", schema=None) as batch_op:
        batch_op.add_column(sa.Column("app_scope", sa.String(length=16), nullable=True))
    op.create_table(
        "app_token_caches",
        sa.Column("org_id", sa.Integer(), nullable=False),
        sa.Column("token_cache_encrypted", sa.Text(), nullable=False),
        sa.Column("updated_at", server.db.UTCDateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["org_id"],
            ["organisations.id"],
            name=op.f("fk_app_token_caches_org_id_organisations"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("org_id", name=op.f("pk_app_token_caches")),
    )


def downgrade() -> None:
    op.drop_table("app_token_caches")
    with op.batch_alter_table("users", schema=None) as batch_op:
        batch_op.drop_column("app_scope")
    with op.batch_alter_table("organisations", schema=None) as batch_op:
        batch_op.drop_column("app_grant_checked_at")
        batch_op.drop_column("app_grant_error")
        batch_op.drop_column("app_consent_at")
        batch_op.drop_column("sync_mode")
