"""`registry delete`, `registry gc` and `registry verify`: versions and bytes over time.

`delete` talks HTTP with an admin token, like the other user commands. `gc` and `verify` work
on the database and storage directly, like `registry token`: they run where both are
reachable (the same REGISTRY_* settings, or --data-dir for an embedded registry).
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import TYPE_CHECKING

import click

from registry.archives.limits import human_bytes
from registry.cli.connection import Remote, remote_command
from registry.cli.main import main
from registry.cli.progress import TransferProgress
from registry.cli.tokens import admin_settings, cli_actor, data_dir_option, database

if TYPE_CHECKING:
    from collections.abc import Iterator

    from sqlalchemy.orm import Session

    from registry.domain.catalog.collection import CollectionReport
    from registry.domain.catalog.integrity import ArtifactProblem

EXIT_PROBLEMS_FOUND = 1


@remote_command(main)
@click.argument("target", metavar="NAME@REF | NAME --model")
@click.option("--model", "whole_model", is_flag=True, help="Delete model NAME, all its versions.")
def delete(remote: Remote, target: str, whole_model: bool) -> None:
    """Delete version NAME@REF, or with --model a whole model (needs an admin token).

    What is deleted stays on record (audit log, lineage) but is no longer listed or served,
    and its numbers and name are not given again. Refused while an alias points at it.
    `registry gc` frees the stored bytes later.
    """
    name, at, ref = target.partition("@")
    if whole_model == bool(at):
        raise click.UsageError("name a version as NAME@REF, or a whole model as NAME --model")
    if whole_model:
        deletion = remote.client.delete_model(name)
    else:
        deletion = remote.client.delete_version(name, ref)
    numbers = ", ".join(map(str, deletion["versions"])) or "none"
    remote.emit(
        deletion,
        lambda: (
            f"deleted model {name} (versions: {numbers})"
            if whole_model
            else f"deleted {name}@{numbers}"
        ),
    )


@main.command()
@click.option("--dry-run", is_flag=True, help="Report what would be removed; remove nothing.")
@click.option(
    "--keep-last",
    type=click.IntRange(min=1),
    default=None,
    help="Also delete the versions beyond each model's newest N that no alias points at.",
)
@click.option("--json", "json_output", is_flag=True, help="Machine-readable output.")
@data_dir_option
def gc(dry_run: bool, keep_last: int | None, json_output: bool, data_dir: Path | None) -> None:
    """Remove stored bytes that no live version needs.

    Kept: the bytes of every version not deleted and of what they were derived from, and
    anything younger than REGISTRY_GC_GRACE_SECONDS (uploads and conversions in flight, and
    versions deleted less long ago), so it is safe while the registry runs.
    """
    from datetime import timedelta

    from registry.domain.catalog import collection
    from registry.storage import StorageError, open_storage

    settings = admin_settings(data_dir)
    try:
        storage = open_storage(settings)
        stored = collection.list_stored(storage)  # before the database is read: see collection
        with database(settings) as session:
            retired = _retire(session, keep_last, dry_run) if keep_last else []
            plan = collection.plan_collection(
                session, stored, timedelta(seconds=settings.gc_grace_seconds)
            )
        report = collection.collect(storage, plan, dry_run=dry_run)
    except StorageError as error:
        raise click.ClickException(f"storage unavailable: {error}") from None
    if json_output:
        click.echo(json.dumps({**report.as_dict(), "versions_deleted": retired}, indent=2))
        return
    for line in _collection_lines(report, retired, keep_last):
        click.echo(line)


def _retire(session: Session, keep_last: int, dry_run: bool) -> list[dict]:
    """Retention: the versions beyond the newest `keep_last` (deleted unless a dry run)."""
    from registry.domain.catalog import lifecycle

    if dry_run:
        return [
            {"model": version.model.name, "version": version.number}
            for version in lifecycle.versions_beyond(session, keep_last)
        ]
    return [
        {"model": deletion.model, "version": number}
        for deletion in lifecycle.apply_retention(session, keep_last, cli_actor())
        for number in deletion.versions
    ]


def _collection_lines(
    report: CollectionReport, retired: list[dict], keep_last: int | None
) -> Iterator[str]:
    delete, remove = ("would delete", "would remove") if report.dry_run else ("deleted", "removed")
    if keep_last:
        names = ", ".join(f"{item['model']}@{item['version']}" for item in retired) or "none"
        yield f"{delete} versions beyond the newest {keep_last}: {names}"
    yield (
        f"{report.listed} stored objects ({human_bytes(report.listed_bytes)}): "
        f"{report.needed} needed, {report.fresh} too recent to judge, "
        f"{report.refreshed} written again meanwhile"
    )
    yield f"{remove} {report.removed} objects, {human_bytes(report.bytes_freed)}"


@main.command()
@click.option("--model", "model_name", default=None, help="Only this model's versions.")
@click.option("--json", "json_output", is_flag=True, help="Machine-readable output.")
@data_dir_option
def verify(model_name: str | None, json_output: bool, data_dir: Path | None) -> None:
    """Re-hash the stored bytes of every artifact of every live version.

    Reports each missing or corrupted artifact by model, version and kind, and exits 1 when
    there is any.
    """
    from registry.domain.catalog import integrity
    from registry.errors import RegistryError
    from registry.storage import StorageError, open_storage

    settings = admin_settings(data_dir)
    try:
        with database(settings) as session:
            artifacts = integrity.recorded_artifacts(session, model_name)
        storage = open_storage(settings)
        with TransferProgress("verify") as progress:
            problems = integrity.check_stored_bytes(storage, artifacts, progress)
    except RegistryError as error:
        raise click.ClickException(str(error)) from None
    except StorageError as error:
        raise click.ClickException(f"storage unavailable: {error}") from None
    checked = {
        "artifacts": len(artifacts),
        "objects": len({artifact.storage_key for artifact in artifacts}),
        "bytes": sum({a.storage_key: a.size for a in artifacts}.values()),
    }
    if json_output:
        click.echo(
            json.dumps({"checked": checked, "problems": [p.as_dict() for p in problems]}, indent=2)
        )
    else:
        for problem in problems:
            click.echo(_problem_line(problem))
        click.echo(
            f"checked {checked['artifacts']} artifacts ({checked['objects']} objects, "
            f"{human_bytes(checked['bytes'])}): "
            + (f"{len(problems)} with problems" if problems else "all intact")
        )
    if problems:
        raise SystemExit(EXIT_PROBLEMS_FOUND)


def _problem_line(problem: ArtifactProblem) -> str:
    artifact = problem.artifact
    where = f"{artifact.model}@{artifact.version} {artifact.kind}"
    if problem.problem == "missing":
        return f"{where}: MISSING ({artifact.storage_key})"
    return (
        f"{where}: CORRUPT (recorded sha256 {artifact.sha256}, {artifact.size} bytes; "
        f"stored {problem.found_sha256}, {problem.found_size} bytes)"
    )
