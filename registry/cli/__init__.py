"""The `registry` command line."""

from registry.cli import (  # noqa: F401  (register commands)
    audit,
    cards,
    lifecycle,
    lineage,
    models,
    server,
    tokens,
)
from registry.cli.main import main

__all__ = ["main"]
