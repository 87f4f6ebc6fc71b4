"""The migrations build exactly the schema the models describe, on both databases."""

from __future__ import annotations

import pytest
from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext

from registry.db import make_engine, upgrade
from registry.db.models import Base


@pytest.mark.parametrize("backend", ["postgres", "sqlite"])
def test_migrated_schema_matches_the_models(backend, postgres_schema_url, tmp_path):
    url = postgres_schema_url() if backend == "postgres" else f"sqlite:///{tmp_path}/m.sqlite"
    upgrade(url)
    engine = make_engine(url)

    with engine.connect() as connection:
        differences = compare_metadata(MigrationContext.configure(connection), Base.metadata)

    engine.dispose()
    assert differences == []
