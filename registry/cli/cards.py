"""`registry readme set|show`: a model's card, the markdown its web page shows."""

from __future__ import annotations

import click

from registry.cli.connection import RegistryGroup, Remote, remote_command
from registry.cli.main import main


@main.group(cls=RegistryGroup)
def readme() -> None:
    """A model's card: its description in markdown (at most 256 KiB)."""


@remote_command(readme, "set")
@click.argument("name")
@click.argument("file", type=click.File("r", encoding="utf-8"))
def set_readme(remote: Remote, name: str, file) -> None:
    """Set NAME's card from FILE (markdown; `-` reads standard input).

    A card set by hand stays until set again: uploads carrying assets.extra/README.md no
    longer replace it.
    """
    model = remote.client.set_readme(name, file.read())
    size = len(model["description"].encode())
    remote.emit(model, lambda: f"set the card of {name} ({size} bytes)")


@remote_command(readme, "show")
@click.argument("name")
def show_readme(remote: Remote, name: str) -> None:
    """Print NAME's card as it is stored (markdown)."""
    model = remote.client.model(name)
    card = {key: model[key] for key in ("name", "description", "description_from_version")}
    remote.emit(card, lambda: model["description"] or f"{name} has no card yet")
