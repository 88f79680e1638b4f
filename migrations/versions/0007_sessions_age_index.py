"""sync_sessions: index on started_at, for retention's delete by age

Revision ID: 0007_sessions_age_index
Revises: 0001
"""

from alembic import op

revision = "0007_sessions_age_index"
down_revision = "0002_meeting_series"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_index("ix_sync_sessions_started_at", "sync_sessions", ["started_at"], unique=False)


def downgrade() -> None:
    op.drop_index("ix_sync_sessions_started_at", table_name="sync_sessions")
