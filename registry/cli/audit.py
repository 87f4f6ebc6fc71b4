"""`registry audit verify|export`: check the audit log's hash chain, or copy it out for a SIEM."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import click

from registry.cli.connection import RegistryGroup, Remote, remote_command
from registry.cli.main import main
from registry.client import RegistryClient

# Distinct from the transport exit codes (registry.cli.connection): the registry answered,
# and its log does not verify.
EXIT_CHAIN_BROKEN = 9
EXPORT_PAGE = 1000


@main.group(cls=RegistryGroup)
def audit() -> None:
    """The tamper-evident audit log."""


@remote_command(audit, "verify", epilog=f"Exits {EXIT_CHAIN_BROKEN} when the chain is broken.")
@click.option(
    "--file",
    "export_file",
    type=click.Path(exists=True, dir_okay=False, path_type=Path),
    help="Check an export (`registry audit export`) offline instead of asking the registry.",
)
def verify(remote: Remote, export_file: Path | None) -> None:
    """Recompute the hash chain: every event, in order, chained from the one before."""
    if export_file is not None:
        from registry.domain.ledger import audit as audit_log
        from registry.errors import InvalidRequest

        try:
            with export_file.open() as lines:
                verdict = audit_log.verify_events(audit_log.read_export(lines))
        except InvalidRequest as error:
            raise click.ClickException(str(error)) from None
    else:
        verdict = remote.client.request("GET", "/audit/verify").json()
    remote.emit(verdict, lambda: verdict_text(verdict))
    if not verdict["ok"]:
        raise SystemExit(EXIT_CHAIN_BROKEN)


@remote_command(audit, "export")
@click.option(
    "-o",
    "--output",
    type=click.Path(dir_okay=False, writable=True, path_type=Path),
    help="Write here instead of standard output.",
)
def export(remote: Remote, output: Path | None) -> None:
    """Write every event as JSON lines, with the hashes that let `verify --file` check them."""
    events = all_events(remote.client)
    if output is None:
        for event in events:
            click.echo(json.dumps(event, sort_keys=True))
        return
    count = 0
    with output.open("w") as out:
        for event in events:
            out.write(json.dumps(event, sort_keys=True) + "\n")
            count += 1
    click.echo(f"wrote {count} events to {output}", err=True)


def all_events(client: RegistryClient) -> Iterator[dict[str, Any]]:
    params: dict[str, Any] = {"limit": EXPORT_PAGE}
    while True:
        page = client.request("GET", "/audit", params=params).json()
        yield from page["events"]
        if not page.get("next_cursor"):
            return
        params["cursor"] = page["next_cursor"]


def verdict_text(verdict: dict[str, Any]) -> str:
    if verdict["ok"]:
        return f"audit chain ok: {verdict['events']} events"
    return (
        f"audit chain BROKEN at event {verdict['first_bad_seq']}: {verdict['reason']} "
        f"({verdict['events']} events before it verify)"
    )
