"""model cards taken from an upload's README.md; outputs a conversion found by itself

Revision ID: 0007
Revises: 0006
Create Date: 2026-11-30 09:00:00.000000
"""

import sqlalchemy as sa
from alembic import op

revision = "0007"
down_revision = "0006"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("models", schema=None) as batch_op:
        batch_op.add_column(sa.Column("description_from_version", sa.Integer(), nullable=True))
    with op.batch_alter_table("model_versions", schema=None) as batch_op:
        batch_op.add_column(sa.Column("inferred_outputs", sa.JSON(), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("model_versions", schema=None) as batch_op:
        batch_op.drop_column("inferred_outputs")
    with op.batch_alter_table("models", schema=None) as batch_op:
        batch_op.drop_column("description_from_version")
