"""The `registry` command line."""

from registry.cli import server  # noqa: F401  (registers its commands)
from registry.cli.main import main

__all__ = ["main"]
