"""The migration that adds the tags index fills it from the models already there."""

from __future__ import annotations

import pytest
from alembic import command
from sqlalchemy import text

from registry.db import alembic_config, make_engine, upgrade


@pytest.mark.parametrize("backend", ["postgres", "sqlite"])
def test_existing_models_tags_are_indexed_except_deleted_models(
    backend, postgres_schema_url, tmp_path
):
    url = postgres_schema_url() if backend == "postgres" else f"sqlite:///{tmp_path}/m.sqlite"
    command.upgrade(alembic_config(url), "0004")
    engine = make_engine(url)
    with engine.begin() as connection:
        connection.execute(
            text(
                "INSERT INTO models (name, description, tags, last_version_number, created_at,"
                " created_by, deleted_at) VALUES"
                " ('a', '', '{\"team\": \"vision\", \"layers\": 3}', 0, CURRENT_TIMESTAMP,"
                " 't', NULL),"
                " ('b', '', '{}', 0, CURRENT_TIMESTAMP, 't', NULL),"
                " ('c', '', '{\"team\": \"nlp\"}', 0, CURRENT_TIMESTAMP, 't', CURRENT_TIMESTAMP)"
            )
        )

    upgrade(url)

    with engine.connect() as connection:
        rows = connection.execute(
            text("SELECT model_name, key, value FROM model_tags ORDER BY model_name, key")
        ).all()
    engine.dispose()
    assert [tuple(row) for row in rows] == [("a", "layers", "3"), ("a", "team", "vision")]
