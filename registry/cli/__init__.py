"""The `registry` command line."""

from registry.cli import (  # noqa: F401  (register commands)
    audit,
    cards,
    lifecycle,
    lineage,
    models,
    promotion,
    server,
    tokens,
    webhooks,
)
from registry.cli.main import main

__all__ = ["main"]
