"""model tags as a search index: one row per tag of a live model, read in name order; the
aliases of a version found by an index

Revision ID: 0009
Revises: 0008
Create Date: 2026-11-30 08:45:00.000000
"""

import sqlalchemy as sa
from alembic import op

revision = "0009"
down_revision = "0008"
branch_labels = None
depends_on = None

MAX_KEY, MAX_VALUE = 128, 256


def upgrade() -> None:
    op.create_table(
        "model_tags",
        sa.Column("model_id", sa.Integer(), sa.ForeignKey("models.id"), nullable=False),
        sa.Column("key", sa.String(length=MAX_KEY), nullable=False),
        sa.Column("value", sa.String(length=MAX_VALUE), nullable=False),
        sa.Column("model_name", sa.String(length=128), nullable=False),
        sa.PrimaryKeyConstraint("model_id", "key"),
    )
    op.create_index("ix_model_tags_search", "model_tags", ["key", "value", "model_name"])
    _index_existing_tags()
    op.create_index("ix_aliases_version_id", "aliases", ["version_id"])


def _index_existing_tags() -> None:
    """Fill the index from the tags of live models, each value as search compares it."""
    connection = op.get_bind()
    models = sa.table(
        "models",
        sa.column("id", sa.Integer),
        sa.column("name", sa.String),
        sa.column("tags", sa.JSON),
        sa.column("deleted_at", sa.DateTime),
    )
    model_tags = sa.table(
        "model_tags",
        sa.column("model_id", sa.Integer),
        sa.column("key", sa.String),
        sa.column("value", sa.String),
        sa.column("model_name", sa.String),
    )
    rows = connection.execute(
        sa.select(models.c.id, models.c.name, models.c.tags).where(models.c.deleted_at.is_(None))
    )
    for batch in rows.partitions(1000):
        entries = [
            {"model_id": id_, "key": key, "value": str(value), "model_name": name}
            for id_, name, tags in batch
            for key, value in (tags or {}).items()
            # Longer tags could not be created any more and are left out of search.
            if len(key) <= MAX_KEY and len(str(value)) <= MAX_VALUE
        ]
        if entries:
            connection.execute(model_tags.insert(), entries)


def downgrade() -> None:
    op.drop_index("ix_aliases_version_id", table_name="aliases")
    op.drop_index("ix_model_tags_search", table_name="model_tags")
    op.drop_table("model_tags")
