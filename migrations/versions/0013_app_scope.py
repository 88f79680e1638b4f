"""application mode's scope: the admin's choice (users or a group)

Revision ID: 0013_app_scope
Revises: 0012_app_mode
"""

import sqlalchemy as sa
from alembic import op

import server.db

revision = "0013_app_scope"
down_revision = "0012_app_mode"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "app_scope_choices",
        sa.Column("org_id", sa.Integer(), nullable=False),
        sa.Column("kind", sa.String(length=16), nullable=False),
        sa.Column("group_id", sa.String(length=64), nullable=False),
        sa.Column("group_name", sa.String(length=256), nullable=False),
        sa.Column("refreshed_at", server.db.UTCDateTime(timezone=True), nullable=True),
        sa.Column("last_joiners", sa.Integer(), nullable=False),
        sa.Column("last_leavers", sa.Integer(), nullable=False),
        sa.Column("last_error", sa.String(length=500), nullable=False),
        sa.Column("updated_at", server.db.UTCDateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["org_id"],
            ["organisations.id"],
            name=op.f("fk_app_scope_choices_org_id_organisations"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("org_id", name=op.f("pk_app_scope_choices")),
    )
    op.create_table(
        "app_scope_picks",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("org_id", sa.Integer(), nullable=False),
        sa.Column("object_id", sa.String(length=64), nullable=False),
        sa.Column("created_at", server.db.UTCDateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["org_id"],
            ["organisations.id"],
            name=op.f("fk_app_scope_picks_org_id_organisations"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_app_scope_picks")),
        sa.UniqueConstraint(
            "org_id", "object_id", name=op.f("uq_app_scope_picks_org_id_object_id")
        ),
    )


def downgrade() -> None:
    op.drop_table("app_scope_picks")
    op.drop_table("app_scope_choices")
