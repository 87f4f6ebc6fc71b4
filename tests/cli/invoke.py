"""Running `registry` commands in-process against a live registry, as a user would type them."""

from __future__ import annotations

from click.testing import CliRunner, Result

from registry.cli import main


def registry_cli(registry, *args: str, env: dict[str, str] | None = None) -> Result:
    """`registry ARGS --url URL [--token T]`; the token once the live registry has one."""
    token = getattr(registry, "token", None)
    connection = ["--url", registry.url, *(["--token", token] if token else [])]
    return CliRunner().invoke(main, [*args, *connection], env=env)
