"""The `registry` command group; each module of this package adds its commands to it."""

from __future__ import annotations

import logging

import click


@click.group()
def main() -> None:
    """A TensorFlow model registry: uploads, verified conversions, lineage."""
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s %(message)s")
