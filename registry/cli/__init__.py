"""The `registry` command line."""

from registry.cli import audit, lineage, models, server, tokens  # noqa: F401  (register commands)
from registry.cli.main import main

__all__ = ["main"]
