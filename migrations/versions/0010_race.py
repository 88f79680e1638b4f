"""at most one running sync session per mailbox

Revision ID: 0010_race
Revises: 0001
"""

import sqlalchemy as sa
from alembic import op

revision = "0010_race"
down_revision = "0011_sync_schedule"
branch_labels = None
depends_on = None


def upgrade() -> None:
    # Older duplicates (from before the index) are closed first, newest running one kept.
    op.execute(
        "UPDATE sync_sessions SET status = 'abandoned' WHERE status = 'running' AND id NOT IN "
        "(SELECT max(id) FROM sync_sessions WHERE status = 'running' GROUP BY user_id)"
    )
    with op.batch_alter_table("sync_sessions", schema=None) as batch_op:
        batch_op.create_index(
            "uq_sync_sessions_one_running",
            ["user_id"],
            unique=True,
            sqlite_where=sa.text("status = 'running'"),
            postgresql_where=sa.text("status = 'running'"),
        )


def downgrade() -> None:
    with op.batch_alter_table("sync_sessions", schema=None) as batch_op:
        batch_op.drop_index("uq_sync_sessions_one_running")
