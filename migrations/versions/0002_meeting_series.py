"""meeting series: the series key of a recurring meeting's occurrences

Revision ID: 0002_meeting_series
Revises: 0001
"""

import sqlalchemy as sa
from alembic import op

revision = "0002_meeting_series"
down_revision = "0001"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("crm_activities") as batch:
        batch.add_column(
            sa.Column("series_key", sa.String(length=512), nullable=False, server_default="")
        )
    op.create_index(
        "ix_crm_activities_org_series", "crm_activities", ["org_id", "series_key"], unique=False
    )


def downgrade() -> None:
    op.drop_index("ix_crm_activities_org_series", table_name="crm_activities")
    with op.batch_alter_table("crm_activities") as batch:
        batch.drop_column("series_key")
