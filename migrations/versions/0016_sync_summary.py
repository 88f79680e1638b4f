"""each user's sync summary (the admin's users table sorts and filters by health in SQL);
when each encryption key came into use (the console's "key rotation due")

Revision ID: 0016_sync_summary
Revises: 0014_thread_backfill
"""

import sqlalchemy as sa
from alembic import op

from server.db import UTCDateTime

revision = "0016_sync_summary"
down_revision = "0014_thread_backfill"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "user_sync_summaries",
        sa.Column("user_id", sa.Integer(), nullable=False),
        sa.Column("org_id", sa.Integer(), nullable=False),
        sa.Column("last_session_id", sa.Integer(), nullable=True),
        sa.Column("failures", sa.Integer(), nullable=False),
        sa.Column("recent_success_at", UTCDateTime(), nullable=True),
        sa.Column("last_success_at", UTCDateTime(), nullable=True),
        sa.Column("last_error", sa.String(length=500), nullable=False),
        sa.Column("last_refused", sa.Boolean(), server_default=sa.false(), nullable=False),
        sa.Column("updated_at", UTCDateTime(), nullable=False),
        sa.ForeignKeyConstraint(["org_id"], ["organisations.id"], ondelete="CASCADE"),
        sa.ForeignKeyConstraint(["user_id"], ["users.id"], ondelete="CASCADE"),
        sa.PrimaryKeyConstraint("user_id"),
    )
    op.create_index(
        "ix_user_sync_summaries_org_success",
        "user_sync_summaries",
        ["org_id", "last_success_at"],
    )
    op.create_table(
        "encryption_keys",
        sa.Column("fingerprint", sa.String(length=64), nullable=False),
        sa.Column("first_used_at", UTCDateTime(), nullable=False),
        sa.PrimaryKeyConstraint("fingerprint"),
    )
    op.create_index("ix_ledger_org_status_updated", "ledger", ["org_id", "status", "updated_at"])
    op.create_index("ix_ledger_user_status_updated", "ledger", ["user_id", "status", "updated_at"])
    # Users who synced before this revision: the newest session and the last success, so the
    # table is right at once; failures and the error follow from each user's next session.
    op.execute(
        "INSERT INTO user_sync_summaries (user_id, org_id, last_session_id, failures, "
        "recent_success_at, last_success_at, last_error, updated_at) "
        "SELECT s.user_id, max(s.org_id), max(s.id), 0, "
        "max(CASE WHEN s.status = 'succeeded' THEN coalesce(s.finished_at, s.started_at) END), "
        "max(CASE WHEN s.status = 'succeeded' THEN s.finished_at END), '', "
        "CURRENT_TIMESTAMP FROM sync_sessions s GROUP BY s.user_id"
    )


def downgrade() -> None:
    op.drop_index("ix_ledger_user_status_updated", table_name="ledger")
    op.drop_index("ix_ledger_org_status_updated", table_name="ledger")
    op.drop_table("encryption_keys")
    op.drop_index("ix_user_sync_summaries_org_success", table_name="user_sync_summaries")
    op.drop_table("user_sync_summaries")
