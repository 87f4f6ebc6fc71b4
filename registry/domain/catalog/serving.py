"""TF Serving exports: versions' SavedModels in the `model_base_path` layout, as one tar.gz.

TF Serving watches `<base>/<model>/<version>/` directories, each a SavedModel
(`saved_model.pb`, `variables/`, `assets/`). An export re-roots every chosen version's
`savedmodel` artifact under `NAME/<number>/` in a new deterministic tar.gz, streaming: each
artifact is read from storage once, its sha256 checked on the way (a mismatch breaks the
export off rather than finishing it), and nothing is unpacked to disk.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import BinaryIO

from sqlalchemy.orm import Session

from registry.archives.directories import deterministic_tar_gz, tar_entry
from registry.archives.entries import Entry, archive_entries
from registry.archives.limits import ArchiveLimits
from registry.archives.streams import ChunkReader
from registry.db.models import Artifact, ModelVersion
from registry.domain.catalog import models as catalog
from registry.domain.catalog.artifacts import verified_stream
from registry.errors import Conflict, InvalidRequest
from registry.storage import Storage

SERVABLE_KIND = "savedmodel"


class NoSavedModel(Conflict):
    """A version asked for has no SavedModel to serve (yet, or ever)."""

    title = "No SavedModel to serve"


@dataclass(frozen=True)
class ServedVersion:
    """A version in an export: its number, SavedModel artifact, and the model's place in it."""

    number: int
    artifact: Artifact  # detached from its session: only its loaded columns are used
    root: str  # the archive directory holding saved_model.pb ("" = top level)


@dataclass(frozen=True)
class ServingExport:
    model: str
    versions: tuple[ServedVersion, ...]
    labels: dict[str, int]  # alias -> version number, for the aliases whose version it holds

    @property
    def numbers(self) -> list[int]:
        return [v.number for v in self.versions]


def plan_export(session: Session, model_name: str, refs: list[str]) -> ServingExport:
    """The versions `refs` (numbers, aliases, `latest`) name, each once, by number; no refs
    means every version an alias of the model names.

    Raises ModelNotFound / VersionNotFound for what does not exist, InvalidRequest for no refs
    and no aliases, and NoSavedModel for a version without a SavedModel artifact, before a
    byte of the export is written.
    """
    model = catalog.get_model(session, model_name)
    if not refs:
        refs = [alias.name for alias in model.aliases]
    if not refs:
        raise InvalidRequest(
            f"model {model.name!r} has no aliases: name the versions to export with "
            "?alias=production and/or ?version=3 (repeatable)"
        )
    chosen: dict[int, ServedVersion] = {}
    for ref in refs:
        version = catalog.resolve_version(session, model, ref)
        if version.number in chosen:
            continue
        artifact = _savedmodel_of(version)
        # An uploaded SavedModel is the upload's archive, the model in a directory inside it;
        # a converted one is packed from the SavedModel directory itself.
        root = version.options.get("root", "") if artifact.job_id is None else ""
        chosen[version.number] = ServedVersion(version.number, artifact, root or "")
    for served in chosen.values():
        session.expunge(served.artifact)
    labels = {
        alias.name: alias.version.number
        for alias in model.aliases
        if alias.version.number in chosen
    }
    return ServingExport(model.name, tuple(chosen[n] for n in sorted(chosen)), labels)


def _savedmodel_of(version: ModelVersion) -> Artifact:
    for artifact in version.artifacts:
        if artifact.kind == SERVABLE_KIND:
            return artifact
    where = f"version {version.number} of {version.model.name!r}"
    if version.source_kind == "tflite":
        raise NoSavedModel(
            f"{where} is a .tflite upload; TF Serving needs a SavedModel, and none is made from "
            "TFLite: upload the model it was converted from"
        )
    if version.status in ("pending", "converting"):
        raise NoSavedModel(
            f"{where} has no SavedModel yet: it is still {version.status}; export it once it is "
            "ready"
        )
    detail = f": {version.status_detail}" if version.status_detail else ""
    raise NoSavedModel(f"{where} has no SavedModel (status {version.status}{detail})")


def write_export(
    storage: Storage, export: ServingExport, out: BinaryIO, limits: ArchiveLimits
) -> None:
    """Write the export as a deterministic tar.gz: `NAME/`, `NAME/<n>/`, `NAME/<n>/...`.

    The same versions with the same artifacts always give the same bytes. Raises
    CorruptArtifact if stored bytes do not match their sha256 (after writing part of it).
    """
    with deterministic_tar_gz(out) as tar:
        tar.addfile(tar_entry(export.model, None))
        for served in export.versions:
            prefix = f"{export.model}/{served.number}"
            tar.addfile(tar_entry(prefix, None))
            with _savedmodel_entries(storage, served, limits) as entries:
                for relative, entry in entries:
                    name = f"{prefix}/{relative}"
                    if entry.is_dir:
                        tar.addfile(tar_entry(name, None))
                    else:
                        tar.addfile(tar_entry(name, entry.size), ChunkReader(entry.chunks()))


@contextmanager
def _savedmodel_entries(
    storage: Storage, served: ServedVersion, limits: ArchiveLimits
) -> Iterator[Iterator[tuple[str, Entry]]]:
    """The checked entries under the version's SavedModel root, named relative to it."""
    artifact = served.artifact
    if artifact.packaging == "tar.gz":
        # One pass: the archive is read through the digest check as it is unpacked.
        def open_stream() -> BinaryIO:
            return ChunkReader(verified_stream(storage, artifact))  # type: ignore[return-value]
    else:
        # A zip is read from its end, out of order: check the digest before trusting it.
        for _ in verified_stream(storage, artifact):
            pass

        def open_stream() -> BinaryIO:
            return storage.open(artifact.storage_key)

    with archive_entries(open_stream, artifact.packaging, limits) as entries:
        yield _under_root(entries, served.root)


def _under_root(entries: Iterator[Entry], root: str) -> Iterator[tuple[str, Entry]]:
    prefix = f"{root}/" if root else ""
    for entry in entries:
        if entry.name.startswith(prefix) and entry.name != root:
            yield entry.name[len(prefix) :], entry
