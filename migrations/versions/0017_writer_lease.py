"""the ledger's writer lease: who is writing a pending row, and until when they count as alive

Revision ID: 0017_writer_lease
Revises: 0013_app_scope
"""

import sqlalchemy as sa
from alembic import op

import server.db

revision = "0017_writer_lease"
down_revision = "0013_app_scope"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("ledger", schema=None) as batch_op:
        batch_op.add_column(sa.Column("writer", sa.String(length=80), nullable=False, server_default=""))
        batch_op.add_column(sa.Column("lease_until", server.db.UTCDateTime(timezone=True), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("ledger", schema=None) as batch_op:
        batch_op.drop_column("lease_until")
        batch_op.drop_column("writer")
