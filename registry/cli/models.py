"""User commands: upload, fetch, models, versions, show, alias set|rm, export-serving.

They talk HTTP through `registry.client`, to `--url` or the local `registry up`, with the
options and exit codes of `registry.cli.connection` (0 done, 1 usage, 2 not found, 3 conflict
or refused, 4 auth, 5 unavailable, 6 conversion failed, 7 transfer failed verification,
8 timed out waiting). Transfers draw a progress bar on a terminal; `--json` prints JSON.
"""

from __future__ import annotations

from pathlib import Path

import click

from registry.archives.limits import human_bytes
from registry.cli import views
from registry.cli.connection import RegistryGroup, Remote, remote_command
from registry.cli.main import main

UPLOAD_FORMATS = ("auto", "checkpoint", "keras", "savedmodel", "frozen_pb", "tflite")


def parse_constant(text: str) -> tuple[str, bool | float]:
    """`keep_prob=1.0` -> ("keep_prob", 1.0); `is_training=false` -> ("is_training", False)."""
    name, equals, value = text.partition("=")
    spelled = value.strip().lower()
    if spelled in ("true", "false"):
        return name.strip(), spelled == "true"
    try:
        number = float(value)
    except ValueError:
        number = None
    if not equals or not name.strip() or number is None:
        raise click.BadParameter(f"{text!r}: use NAME=NUMBER or NAME=true/false")
    return name.strip(), number


class VersionRef(click.ParamType):
    """`NAME@REF` (REF: a number, an alias or `latest`); a bare `NAME` means `NAME@latest`."""

    name = "NAME@REF"

    def convert(self, value, param, ctx) -> tuple[str, str]:
        if isinstance(value, tuple):
            return value
        name, _, ref = str(value).partition("@")
        if not name:
            self.fail(f"{value!r} names no model: write NAME@REF, e.g. digits@3", param, ctx)
        return name, ref or "latest"


@remote_command(main)
@click.argument("name")
@click.argument("path", type=click.Path(exists=True, path_type=Path))
@click.option(
    "--format",
    "format_",
    type=click.Choice(UPLOAD_FORMATS),
    default="auto",
    show_default=True,
    help="What PATH is; auto detects it from the bytes.",
)
@click.option("--output-nodes", help="Comma-separated output node names (checkpoints, graphs).")
@click.option("--input-nodes", help="Comma-separated input node names.")
@click.option("--input-shapes", help='`images:1,16,16,2;ids:1,8` or JSON {"images": [...]}.')
@click.option(
    "--targets",
    help="Extra variants, e.g. tflite_fp16,tflite_int8; tflite_int8_full needs --example-inputs.",
)
@click.option(
    "--constant",
    "input_constants",
    multiple=True,
    callback=lambda _ctx, _param, given: dict(map(parse_constant, given)),
    help="A control input fixed in every variant, e.g. keep_prob=1.0 or is_training=false "
    "(repeatable).",
)
@click.option(
    "--example-inputs",
    type=click.Path(exists=True, dir_okay=False, path_type=Path),
    help=".npz of inputs keyed by input name, for the parity check.",
)
@click.option(
    "--int8-io",
    is_flag=True,
    help="The tflite_int8_full variant takes and gives int8 tensors (default: float).",
)
@click.option("--wait", is_flag=True, help="Wait until the conversions are over.")
@click.option("--timeout", default=600.0, show_default=True, help="Seconds --wait waits.")
def upload(
    remote: Remote, name: str, path: Path, format_: str, wait: bool, timeout: float, **options
) -> None:
    """Upload a model file or directory as a new version of NAME.

    A directory (a SavedModel, a checkpoint) is packed into a .tar.gz as it is sent.
    """
    with remote.progress(f"upload {name}") as progress:
        version = remote.client.upload(
            name, path, format=None if format_ == "auto" else format_, progress=progress, **options
        )
    if not remote.json_output:
        click.echo(views.uploaded(version))
    if wait:
        watcher = views.JobWatcher(enabled=not remote.json_output)
        version = remote.client.wait_until_ready(
            name, version["version"], timeout, on_update=watcher
        )
    remote.emit(version, lambda: views.ready(version) if wait else [])


@remote_command(main)
@click.argument("ref", type=VersionRef(), metavar="NAME@REF")
@click.option("--kind", required=True, help="Which artifact: tflite, savedmodel, frozen_pb...")
@click.option("-o", "--output", required=True, type=click.Path(dir_okay=False, path_type=Path))
def fetch(remote: Remote, ref: tuple[str, str], kind: str, output: Path) -> None:
    """Download an artifact of NAME@REF to a file, its sha256 verified."""
    name, version = ref
    if not output.parent.is_dir():
        raise click.UsageError(f"cannot write {output}: {output.parent} is not a directory")
    with remote.progress(f"fetch {name}@{version} {kind}") as progress:
        artifact = remote.client.download(name, version, kind, output, progress)
    remote.emit(
        artifact,
        lambda: (
            f"saved {name}@{artifact['version']} {kind} to {output} "
            f"({human_bytes(artifact['size'])}, sha256 {artifact['sha256'][:12]} verified)"
        ),
    )


@remote_command(main)
@click.option("-q", "--query", default="", help="Only names containing this.")
@click.option("--tag", default="", help="Only models with this tag, as key:value.")
def models(remote: Remote, query: str, tag: str) -> None:
    """List the models."""
    found = remote.client.models(query, tag)
    remote.emit(found, lambda: views.models_table(found))


@remote_command(main)
@click.argument("name")
def versions(remote: Remote, name: str) -> None:
    """List the versions of a model."""
    found = remote.client.versions(name)
    remote.emit(found, lambda: views.versions_table(found))


@remote_command(main)
@click.argument("ref", type=VersionRef(), metavar="NAME@REF")
def show(remote: Remote, ref: tuple[str, str]) -> None:
    """Show a version: status, signature, variants with sizes, parity per output."""
    version = remote.client.version(*ref)
    remote.emit(version, lambda: views.version_details(version))


@main.group(cls=RegistryGroup)
def alias() -> None:
    """Point aliases (production, staging...) at versions."""


@remote_command(alias, "set")
@click.argument("name")
@click.argument("alias_name", metavar="ALIAS")
@click.argument("version", type=int)
@click.option(
    "--force",
    is_flag=True,
    help="Even at a version that is not ready, has failed variants, or whose signature breaks "
    "clients of the version ALIAS names now.",
)
def set_alias(remote: Remote, name: str, alias_name: str, version: int, force: bool) -> None:
    """Point ALIAS of NAME at VERSION.

    Refused (exit 3) unless --force: a version that is not ready or has failed variants, and
    one whose signature breaks clients of the version ALIAS names now (each breaking change
    is listed).
    """
    result = remote.client.set_alias(name, alias_name, version, force=force)
    remote.emit(result, lambda: f"{alias_name} -> {name}@{result['version']}")


@remote_command(alias, "rm")
@click.argument("name")
@click.argument("alias_name", metavar="ALIAS")
def remove_alias(remote: Remote, name: str, alias_name: str) -> None:
    """Remove ALIAS of NAME."""
    remote.client.remove_alias(name, alias_name)
    removed = {"model": name, "alias": alias_name, "removed": True}
    remote.emit(removed, lambda: f"removed alias {alias_name} of {name}")


@remote_command(main, "export-serving")
@click.argument("name", required=False)
@click.option("--model", "names", multiple=True, help="A model to export (repeatable).")
@click.option("--all", "all_models", is_flag=True, help="Every model that has an alias.")
@click.option("--alias", "aliases", multiple=True, help="A version by alias (repeatable).")
@click.option("--version", "numbers", multiple=True, type=int, help="A version (repeatable).")
@click.option("-o", "--output", required=True, type=click.Path(file_okay=False, path_type=Path))
@click.option(
    "--serving-root",
    type=click.Path(path_type=Path),
    help="Where TF Serving will see OUTPUT (e.g. /models in a container), for the base paths "
    "in models.config; default OUTPUT's absolute path.",
)
def export_serving(
    remote: Remote,
    name: str | None,
    names: tuple[str, ...],
    all_models: bool,
    aliases: tuple[str, ...],
    numbers: tuple[int, ...],
    output: Path,
    serving_root: Path | None,
) -> None:
    """Export models' SavedModels for TF Serving into OUTPUT/NAME/<version>/, and
    OUTPUT/models.config naming them, with each alias as a version label.

    NAME or --model (repeatable) or --all chooses the models (--all: every model with an
    alias, leaving out and listing those with nothing to serve); --alias and --version the
    versions (default: every version an alias names). Serve it with
    `tensorflow_model_server --model_config_file=OUTPUT/models.config`. Existing files are
    never overwritten.
    """
    chosen = [name, *names] if name else list(names)
    if all_models == bool(chosen):
        raise click.UsageError("name the models to export: NAME, --model NAME... or --all")
    if numbers and (all_models or len(chosen) > 1):
        raise click.UsageError("--version numbers a version of one model: name one model")
    if all_models:
        chosen = remote.client.labelled_models()
        if not chosen:
            raise click.UsageError("no model has an alias: name models and versions to export")
    with remote.progress("export") as progress:
        tree = remote.client.export_serving_config(
            chosen,
            output,
            aliases=aliases,
            versions=numbers,
            serving_root=serving_root,
            skip_unservable=all_models,
            progress=progress,
        )
    result = {
        "model_config_file": str(tree.config),
        "skipped": tree.skipped,
        "models": [
            {
                "model": model.name,
                "model_base_path": str(model.base_path),
                "versions": model.versions,
                "labels": model.labels,
            }
            for model in tree.models
        ],
    }
    remote.emit(result, lambda: views.exported(tree))
