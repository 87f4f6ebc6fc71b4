"""`registry token create|revoke|list`: token administration, straight on the database.

These commands are how the first tokens come to exist, so they cannot need one: like
`registry db upgrade`, they run where the registry's database is reachable (the same
REGISTRY_* settings, or --data-dir for an embedded registry). Their actor in the audit log is
`cli:<os user>`. Over HTTP, an admin token does the same at /api/v1/tokens.
"""

from __future__ import annotations

import getpass
import json
import os
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING

import click

from registry.cli.main import main
from registry.settings import Settings

if TYPE_CHECKING:
    from sqlalchemy.orm import Session

ADMIN_TOKEN_FILE = "admin.token"

data_dir_option = click.option(
    "--data-dir",
    type=click.Path(file_okay=False, path_type=Path),
    default=None,
    help="The data directory of an embedded registry (default: REGISTRY_DATA_DIR).",
)


def cli_actor() -> str:
    return f"cli:{getpass.getuser()}"


def admin_settings(data_dir: Path | None) -> Settings:
    """The registry's settings, from REGISTRY_* variables and --data-dir."""
    return Settings.from_env(**({"data_dir": data_dir} if data_dir else {}))


@contextmanager
def database(settings: Settings) -> Iterator[Session]:
    """A transaction on the configured registry database, which must be migrated."""
    from registry.db import SchemaOutOfDate, check_schema, make_engine
    from registry.services import open_sessions

    engine = make_engine(settings.effective_database_url)
    try:
        try:
            check_schema(engine)
        except SchemaOutOfDate as error:
            raise click.ClickException(str(error)) from None
        with open_sessions(engine).begin() as session:
            yield session
    finally:
        engine.dispose()


def store_secret(path: Path, secret: str) -> None:
    """Write a token where only this user can read it (mode 0600 from the first byte)."""
    temporary = path.with_name(f".{path.name}.tmp")
    temporary.unlink(missing_ok=True)
    descriptor = os.open(temporary, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(descriptor, "w") as out:
        out.write(secret + "\n")
    os.replace(temporary, path)


def issue_first_admin_token(settings: Settings) -> Path | None:
    """On a registry's first start: create the `admin` token, store it in the data directory
    for the CLI, and print it this once. Returns the file, or None when tokens exist already."""
    from registry.db import make_engine
    from registry.domain.ledger import tokens
    from registry.services import open_sessions

    engine = make_engine(settings.effective_database_url)
    try:
        with open_sessions(engine).begin() as session:
            issued = tokens.issue_first_admin(session, actor="registry-up")
            if issued is None:
                return None
            path = settings.data_dir / ADMIN_TOKEN_FILE
            # Stored before the transaction commits: a token nobody holds would be useless.
            store_secret(path, issued.secret)
    finally:
        engine.dispose()
    click.echo(f"admin token (shown once; also stored in {path}, mode 0600): {issued.secret}")
    return path


@main.group()
def token() -> None:
    """Create, revoke and list access tokens (scopes: read < write < admin)."""


@token.command("create")
@click.option("--name", required=True, help="Who or what holds it; the audit log's actor.")
@click.option(
    "--scope", type=click.Choice(["read", "write", "admin"]), default="read", show_default=True
)
@click.option("--expires", default="", help="Lifetime such as 30d, 12h, 2w, or an ISO time.")
@click.option("--json", "json_output", is_flag=True, help="Machine-readable output.")
@data_dir_option
def create(name: str, scope: str, expires: str, json_output: bool, data_dir: Path | None) -> None:
    """Create a token and print it. It is shown this once: the registry keeps only its hash."""
    from registry.domain.ledger import tokens
    from registry.errors import RegistryError

    try:
        with database(admin_settings(data_dir)) as session:
            issued = tokens.create_token(
                session, name, scope, cli_actor(), expires_at=tokens.parse_expiry(expires)
            )
            record = issued.record
    except RegistryError as error:
        raise click.ClickException(str(error)) from None
    expiry = tokens.describe(record)["expires_at"]
    if json_output:
        click.echo(json.dumps({**tokens.describe(record), "token": issued.secret}))
        return
    click.echo(issued.secret)
    click.echo(
        f"token {name!r} ({scope}{', expires ' + expiry if expiry else ''}): store it now, "
        "it cannot be shown again",
        err=True,
    )


@token.command("revoke")
@click.argument("name")
@data_dir_option
def revoke(name: str, data_dir: Path | None) -> None:
    """Revoke a token by name: requests with it are refused from now on."""
    from registry.domain.ledger import tokens
    from registry.errors import RegistryError

    try:
        with database(admin_settings(data_dir)) as session:
            tokens.revoke_token(session, name, cli_actor())
    except RegistryError as error:
        raise click.ClickException(str(error)) from None
    click.echo(f"token {name!r} revoked")


@token.command("list")
@click.option("--json", "json_output", is_flag=True, help="Machine-readable output.")
@data_dir_option
def list_(json_output: bool, data_dir: Path | None) -> None:
    """Every token: name, scope, status, expiry (never the secret; the registry lacks it)."""
    from registry.domain.ledger import tokens

    with database(admin_settings(data_dir)) as session:
        listed = [tokens.describe(t) for t in tokens.list_tokens(session)]
    if json_output:
        click.echo(json.dumps(listed, indent=2))
        return
    for item in listed:
        expiry = f"expires {item['expires_at']}" if item["expires_at"] else "no expiry"
        click.echo(
            f"{item['name']:<24} {item['scope']:<6} {item['status']:<8} {item['prefix']}…  "
            f"{expiry}  created by {item['created_by']}"
        )
