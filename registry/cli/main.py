"""The `registry` command group; each module of this package adds its commands to it."""

from __future__ import annotations

import logging

import click

from registry.settings import SettingsError


class _SettingsErrorsAsMessages(click.Group):
    """A bad REGISTRY_* variable ends any command with its one-line message, exit code 1."""

    def invoke(self, ctx: click.Context):
        try:
            return super().invoke(ctx)
        except SettingsError as error:
            raise click.ClickException(str(error)) from None


@click.group(cls=_SettingsErrorsAsMessages)
def main() -> None:
    """A TensorFlow model registry: uploads, verified conversions, lineage."""
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s %(message)s")
