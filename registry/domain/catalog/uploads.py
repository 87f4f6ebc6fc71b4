"""Turning uploaded bytes into a new model version: store, check, then record."""

from __future__ import annotations

import io
from collections.abc import Iterable
from dataclasses import dataclass, field, replace
from typing import Any, BinaryIO

from sqlalchemy import select
from sqlalchemy.orm import Session
from sqlalchemy.orm.attributes import set_committed_value

from registry.archives.limits import ArchiveLimits
from registry.db.models import Artifact, ModelVersion
from registry.domain import jobs
from registry.domain.catalog import cards
from registry.domain.catalog import models as catalog
from registry.domain.catalog.compatibility import plan_comparisons
from registry.domain.inspection.detection import detect_upload
from registry.domain.ledger import audit
from registry.errors import InvalidRequest, UploadTooLarge
from registry.settings import Settings
from registry.storage import Storage, WrittenBlob
from registry.vocabulary import (
    DEFAULT_TARGETS,
    DESCRIBE,
    EXAMPLE_INPUTS_KIND,
    NEEDS_EXAMPLE_INPUTS,
    OPTIONAL_TARGETS,
    validate_name,
)


@dataclass
class UploadOptions:
    """What an upload says about itself besides its bytes."""

    declared_format: str = "auto"
    output_nodes: list[str] = field(default_factory=list)
    input_nodes: list[str] = field(default_factory=list)
    input_shapes: dict[str, list[int]] = field(default_factory=dict)
    targets: list[str] = field(default_factory=list)
    tags: dict[str, Any] = field(default_factory=dict)
    # Which MetaGraph and signature of a SavedModel to convert, when it has several.
    signature_key: str = ""
    saved_model_tags: list[str] = field(default_factory=list)
    # Control placeholders (dropout's keep_prob, is_training) fixed to these values.
    input_constants: dict[str, bool | int | float] = field(default_factory=dict)
    # The full-integer TFLite variant takes and gives int8 tensors (else float, as its source).
    int8_io: bool = False

    def conversion_options(self) -> dict[str, Any]:
        options: dict[str, Any] = {}
        if self.output_nodes:
            options["output_nodes"] = self.output_nodes
        if self.input_nodes:
            options["input_nodes"] = self.input_nodes
        if self.input_shapes:
            options["input_shapes"] = self.input_shapes
        if self.signature_key:
            options["signature_key"] = self.signature_key
        if self.saved_model_tags:
            options["tags"] = self.saved_model_tags
        if self.input_constants:
            options["input_constants"] = self.input_constants
        if self.int8_io:
            options["int8_io"] = True
        return options


# Uploads up to this size are also kept in memory until recorded: inspecting them then reads
# no stored bytes back (on S3, a HEAD and a GET of each small upload).
KEPT_IN_MEMORY_BYTES = 1024**2


class LimitedBlobWriter:
    """A storage writer that refuses, and removes, more than `max_bytes`; the blob it closes
    carries its `content` when that is at most KEPT_IN_MEMORY_BYTES."""

    def __init__(
        self, storage: Storage, max_bytes: int, expected_sha256: str | None = None
    ) -> None:
        self._writer = storage.writer(expected_sha256)
        self._max_bytes = max_bytes
        self._content: bytearray | None = bytearray()
        self.written = 0

    def write(self, chunk: bytes) -> None:
        self.written += len(chunk)
        if self.written > self._max_bytes:
            self._writer.abort()
            raise UploadTooLarge(
                f"upload exceeds the limit of {self._max_bytes} bytes (REGISTRY_MAX_UPLOAD_BYTES)"
            )
        if self.written > KEPT_IN_MEMORY_BYTES:
            self._content = None
        elif self._content is not None:
            self._content += chunk
        self._writer.write(chunk)

    def close(self) -> WrittenBlob:
        blob = self._writer.close()
        if self._content is None:
            return blob
        return replace(blob, content=bytes(self._content))

    def abort(self) -> None:
        self._writer.abort()


def write_blob(storage: Storage, chunks: Iterable[bytes], max_bytes: int) -> WrittenBlob:
    """Stream chunks to a temporary object; any failure removes what was written."""
    writer = LimitedBlobWriter(storage, max_bytes)
    try:
        for chunk in chunks:
            writer.write(chunk)
        return writer.close()
    except BaseException:
        writer.abort()
        raise


def share_held_bytes(session: Session, storage: Storage, blob: WrittenBlob) -> WrittenBlob:
    """The bytes of a checked blob kept where it was written, or, when a live version holds
    the same bytes already, those (and the blob removed): equal bytes are stored once.

    Bytes a live version refers to are needed by any `gc` that reads the database before this
    unit of work commits (or, deleted meanwhile, for the grace period), so they need no refresh.
    """
    held = session.scalar(
        select(Artifact.storage_key)
        .join(ModelVersion, Artifact.version_id == ModelVersion.id)
        .where(Artifact.sha256 == blob.sha256, ModelVersion.deleted_at.is_(None))
        .limit(1)
    )
    if held is None or held == blob.temp_key or not storage.exists(held):
        return blob
    storage.delete(blob.temp_key)
    return WrittenBlob(held, blob.sha256, blob.size, in_place=True)


def discard_blobs(session: Session, storage: Storage, blobs: list[WrittenBlob | None]) -> None:
    """Remove the bytes of a refused upload.

    A blob left at its final key may be the same bytes an earlier version holds: it is
    removed only while no artifact refers to it.
    """
    for blob in blobs:
        if blob is None:
            continue
        if blob.at_final_key and session.scalar(
            select(Artifact.id).where(Artifact.storage_key == blob.temp_key).limit(1)
        ):
            continue
        storage.delete(blob.temp_key)


def _check_calibration(targets: list[str], has_example_inputs: bool) -> None:
    needing = [t for t in targets if t in NEEDS_EXAMPLE_INPUTS]
    if needing and not has_example_inputs:
        raise InvalidRequest(
            f"{', '.join(needing)} is calibrated on real inputs: send `example_inputs` (an .npz "
            "keyed by input name) with the model"
        )


def plan_targets(source_kind: str, requested: list[str]) -> list[str]:
    """The kinds to convert into: the defaults for the source plus the requested ones."""
    if source_kind == "tflite":
        if requested:
            raise InvalidRequest(
                "a .tflite upload is stored and described, not converted: drop `targets`"
            )
        return []
    targets = list(DEFAULT_TARGETS[source_kind])
    targets += [t for t in requested if t not in targets and t != source_kind]
    return targets


def create_version(
    session: Session,
    storage: Storage,
    settings: Settings,
    *,
    model_name: str,
    source: WrittenBlob,
    filename: str,
    options: UploadOptions,
    example_inputs: WrittenBlob | None,
    actor: str,
) -> ModelVersion:
    """Check an uploaded blob, make it visible, and record the version with its jobs.

    Any refusal removes the temporary bytes; the rows are added to the caller's unit of work
    only after the bytes sit at their final key, so a version never points at missing
    bytes. (A unit of work that then fails to commit leaves the bytes unreferenced, for `gc`.)
    """
    temporary = [blob for blob in (source, example_inputs) if blob is not None]
    filename = catalog.safe_filename(filename)
    try:
        validate_name("model", model_name)
        limits = ArchiveLimits.from_settings(settings)
        detected = detect_upload(
            lambda: _open_blob(storage, source), filename, options.declared_format, limits
        )
        targets = plan_targets(detected.kind, options.targets)
        _check_calibration(targets, example_inputs is not None)
        source_key = storage.promote(source)
        example_key = storage.promote(example_inputs) if example_inputs else None
    except BaseException:
        discard_blobs(session, storage, temporary)
        raise

    model = catalog.get_or_create_model(session, model_name, actor)
    version = ModelVersion(
        model=model,
        number=catalog.allocate_version_number(session, model),
        source_kind=detected.kind,
        source_filename=filename,
        options={
            **options.conversion_options(),
            "targets": targets,
            "packaging": detected.packaging,
            "root": detected.root,
            "checkpoint_prefix": detected.checkpoint_prefix,
        },
        tags=options.tags,
        created_by=actor,
    )
    # A new version has no aliases, and its jobs are the ones added below: both collections
    # start loaded, so the answer built from the version queries neither.
    set_committed_value(version, "aliases", [])
    set_committed_value(version, "jobs", [])
    session.add(version)
    with session.no_autoflush:  # planned before the INSERT, which then carries the plan
        plan_comparisons(session, version)
    session.add(
        Artifact(
            version=version,
            kind=detected.kind,
            sha256=source.sha256,
            size=source.size,
            storage_key=source_key,
            packaging=detected.packaging,
            filename=filename,
            created_by=actor,
        )
    )
    if example_inputs is not None:
        session.add(
            Artifact(
                version=version,
                kind=EXAMPLE_INPUTS_KIND,
                sha256=example_inputs.sha256,
                size=example_inputs.size,
                storage_key=example_key,
                filename="example_inputs.npz",
                created_by=actor,
            )
        )
    session.flush()
    audit.record(
        session,
        actor,
        "version.uploaded",
        audit.version_subject(model.name, version.number),
        model=model.name,
        details={
            "source_kind": detected.kind,
            "filename": filename,
            "sha256": source.sha256,
            "size": source.size,
            "example_inputs_sha256": example_inputs.sha256 if example_inputs else None,
            "options": version.options,
            "tags": version.tags,
        },
    )
    cards.card_from_upload(session, version, detected.model_card)
    # A .tflite source still gets one job: describing its signature in a worker. So does a
    # graph without output_nodes: its outputs are found once, then it is converted with them.
    for target in [DESCRIBE] if not targets or jobs.outputs_to_find(version) else targets:
        jobs.queue_job(session, version, target, actor)
    session.flush()
    return version


def _open_blob(storage: Storage, blob: WrittenBlob) -> BinaryIO:
    return io.BytesIO(blob.content) if blob.content is not None else storage.open(blob.temp_key)


def rerun_conversions(
    session: Session, version: ModelVersion, requested: list[str] | None, actor: str
) -> None:
    """Queue a version's conversions again: the requested targets, or its planned ones.

    A version whose outputs were never found is described again first (see `record_upload`).
    """
    planned = plan_targets(version.source_kind, [])
    if jobs.outputs_to_find(version):
        planned, requested = [], None
    targets = requested or planned or [DESCRIBE]
    allowed = set(planned) | set(OPTIONAL_TARGETS) if planned else {DESCRIBE}
    if not isinstance(targets, list) or any(t not in allowed for t in targets):
        unknown = [t for t in targets if t not in allowed] if isinstance(targets, list) else []
        raise InvalidRequest(
            f"cannot convert a {version.source_kind} into {', '.join(map(str, unknown))}: "
            f"choose from {', '.join(sorted(allowed))}"
        )
    has_examples = any(a.kind == EXAMPLE_INPUTS_KIND for a in version.artifacts)
    _check_calibration(targets, has_examples)
    jobs.requeue(session, version, targets, actor)
