"""conversion jobs: when a job last began waiting for the broker

Revision ID: 0008
Revises: 0007
Create Date: 2026-11-30 08:45:00.000000
"""

import sqlalchemy as sa
from alembic import op

revision = "0008"
down_revision = "0007"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("conversion_jobs", schema=None) as batch_op:
        batch_op.add_column(sa.Column("queued_at", sa.DateTime(timezone=True), nullable=True))
    op.execute("UPDATE conversion_jobs SET queued_at = created_at")


def downgrade() -> None:
    with op.batch_alter_table("conversion_jobs", schema=None) as batch_op:
        batch_op.drop_column("queued_at")
