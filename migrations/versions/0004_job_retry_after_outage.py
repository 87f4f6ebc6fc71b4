"""conversion jobs retried after an outage: when to try again, since when unreachable

Revision ID: 0004
Revises: 0003
Create Date: 2026-11-30 06:50:00.000000
"""

import sqlalchemy as sa
from alembic import op

revision = "0004"
down_revision = "0003"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("conversion_jobs", schema=None) as batch_op:
        batch_op.add_column(sa.Column("retry_at", sa.DateTime(timezone=True), nullable=True))
        batch_op.add_column(
            sa.Column("unavailable_since", sa.DateTime(timezone=True), nullable=True)
        )


def downgrade() -> None:
    with op.batch_alter_table("conversion_jobs", schema=None) as batch_op:
        batch_op.drop_column("unavailable_since")
        batch_op.drop_column("retry_at")
