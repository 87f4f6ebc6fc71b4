"""Alembic migrations of the registry's schema (`registry db upgrade` applies them)."""
