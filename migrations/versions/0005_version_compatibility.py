"""signature compatibility recorded per version; alias history read by subject and time

Revision ID: 0005
Revises: 0004
Create Date: 2026-11-30 08:40:00.000000
"""

import sqlalchemy as sa
from alembic import op

revision = "0005"
down_revision = "0004"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("model_versions", schema=None) as batch_op:
        batch_op.add_column(sa.Column("compatibility", sa.JSON(), nullable=True))
    op.create_index("ix_audit_events_subject_time", "audit_events", ["subject", "time"])


def downgrade() -> None:
    op.drop_index("ix_audit_events_subject_time", table_name="audit_events")
    with op.batch_alter_table("model_versions", schema=None) as batch_op:
        batch_op.drop_column("compatibility")
