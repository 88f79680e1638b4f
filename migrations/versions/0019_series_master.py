"""calendar event ids: the series master each occurrence belongs to, so that Graph's removal
of a whole series (an "@removed" entry for the master's id only) finds its occurrences

Revision ID: 0019_series_master
Revises: 0016_sync_summary
"""

import sqlalchemy as sa
from alembic import op

revision = "0019_series_master"
down_revision = "0016_sync_summary"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("calendar_event_keys", schema=None) as batch_op:
        batch_op.add_column(
            sa.Column("series_master_id", sa.String(length=512), nullable=False, server_default="")
        )
        batch_op.create_index(
            "ix_calendar_event_keys_user_master", ["user_id", "series_master_id"], unique=False
        )


def downgrade() -> None:
    with op.batch_alter_table("calendar_event_keys", schema=None) as batch_op:
        batch_op.drop_index("ix_calendar_event_keys_user_master")
        batch_op.drop_column("series_master_id")
