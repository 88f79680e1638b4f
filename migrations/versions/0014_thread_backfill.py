"""thread rules remember when the conversation's earlier emails were saved

Revision ID: 0014_thread_backfill
Revises: 0017_writer_lease
"""

import sqlalchemy as sa
from alembic import op

import server.db

revision = "0014_thread_backfill"
down_revision = "0017_writer_lease"
branch_labels = None
depends_on = None


def upgrade() -> None:
    # NULL: the emails already in the mailbox are still to be read (every existing rule gets
    # its earlier emails saved by the next session, which is what switching it on promised).
    with op.batch_alter_table("thread_rules", schema=None) as batch_op:
        batch_op.add_column(sa.Column("backfilled_at", server.db.UTCDateTime(timezone=True), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("thread_rules", schema=None) as batch_op:
        batch_op.drop_column("backfilled_at")
