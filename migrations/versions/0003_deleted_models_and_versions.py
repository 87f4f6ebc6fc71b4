"""models and versions can be deleted: kept, marked with when and by whom

Revision ID: 0003
Revises: 0002
Create Date: 2026-12-07 10:20:00.000000
"""

import sqlalchemy as sa
from alembic import op

revision = "0003"
down_revision = "0002"
branch_labels = None
depends_on = None

DELETABLE_TABLES = ("models", "model_versions")


def upgrade() -> None:
    for table in DELETABLE_TABLES:
        with op.batch_alter_table(table, schema=None) as batch_op:
            batch_op.add_column(sa.Column("deleted_at", sa.DateTime(timezone=True), nullable=True))
            batch_op.add_column(sa.Column("deleted_by", sa.String(length=128), nullable=True))


def downgrade() -> None:
    for table in DELETABLE_TABLES:
        with op.batch_alter_table(table, schema=None) as batch_op:
            batch_op.drop_column("deleted_by")
            batch_op.drop_column("deleted_at")
