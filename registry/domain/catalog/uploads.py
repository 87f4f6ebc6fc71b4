"""Turning uploaded bytes into a new model version: store, check, then record."""

from __future__ import annotations

import json
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from registry.archives.limits import ArchiveLimits
from registry.db.models import Artifact, ModelVersion
from registry.domain import jobs
from registry.domain.catalog import models as catalog
from registry.domain.inspection.detection import detect_upload
from registry.domain.ledger import audit
from registry.errors import InvalidRequest, UploadTooLarge
from registry.settings import Settings
from registry.storage import Storage, WrittenBlob
from registry.vocabulary import (
    DEFAULT_TARGETS,
    DESCRIBE,
    EXAMPLE_INPUTS_KIND,
    OPTIONAL_TARGETS,
    SOURCE_KINDS,
    TARGET_KINDS,
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

    @classmethod
    def from_form(cls, form: dict[str, str]) -> UploadOptions:
        """Parse the upload's text fields; lists are comma-separated, maps are JSON."""
        declared = form.get("format", "auto").strip() or "auto"
        if declared != "auto" and declared not in SOURCE_KINDS:
            raise InvalidRequest(
                f"unknown format {declared!r}: use auto or one of {', '.join(SOURCE_KINDS)}"
            )
        targets = _split_list(form.get("targets", ""))
        unknown = [t for t in targets if t not in TARGET_KINDS]
        if unknown:
            raise InvalidRequest(
                f"unknown target(s) {', '.join(unknown)}: choose from {', '.join(TARGET_KINDS)}"
            )
        return cls(
            declared_format=declared,
            output_nodes=_split_list(form.get("output_nodes", "")),
            input_nodes=_split_list(form.get("input_nodes", "")),
            input_shapes=_parse_input_shapes(form.get("input_shapes", "")),
            targets=targets,
            tags=_parse_json_object("tags", form.get("tags", "")),
            signature_key=form.get("signature_key", "").strip(),
            saved_model_tags=_split_list(form.get("saved_model_tags", "")),
        )

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
        return options


def _split_list(text: str) -> list[str]:
    return [item.strip() for item in text.split(",") if item.strip()]


def _parse_json_object(what: str, text: str) -> dict[str, Any]:
    if not text.strip():
        return {}
    try:
        value = json.loads(text)
    except ValueError as error:
        raise InvalidRequest(f"{what} must be a JSON object: {error}") from error
    if not isinstance(value, dict):
        raise InvalidRequest(f"{what} must be a JSON object, got {type(value).__name__}")
    return value


def _parse_input_shapes(text: str) -> dict[str, list[int]]:
    """`{"images": [1, 16, 16, 2]}` as JSON, or tflite_convert's `images:1,16,16,2;ids:1,8`."""
    if not text.strip():
        return {}
    if text.lstrip().startswith("{"):
        shapes = _parse_json_object("input_shapes", text)
    else:
        shapes = {}
        for item in text.split(";"):
            name, _, dims = item.partition(":")
            shapes[name.strip()] = dims.split(",")
    try:
        return {name: [int(d) for d in dims] for name, dims in shapes.items()}
    except (TypeError, ValueError) as error:
        raise InvalidRequest(
            f"input_shapes must map input names to integer lists, e.g. "
            f'{{"images": [1, 16, 16, 2]}} or images:1,16,16,2 ({error})'
        ) from error


class LimitedBlobWriter:
    """A storage writer that refuses, and removes, more than `max_bytes`."""

    def __init__(
        self, storage: Storage, max_bytes: int, expected_sha256: str | None = None
    ) -> None:
        self._writer = storage.writer(expected_sha256)
        self._max_bytes = max_bytes
        self.written = 0

    def write(self, chunk: bytes) -> None:
        self.written += len(chunk)
        if self.written > self._max_bytes:
            self._writer.abort()
            raise UploadTooLarge(
                f"upload exceeds the limit of {self._max_bytes} bytes (REGISTRY_MAX_UPLOAD_BYTES)"
            )
        self._writer.write(chunk)

    def close(self) -> WrittenBlob:
        return self._writer.close()

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


def parse_declared_sha256(text: str) -> str | None:
    """The sha256 a client promises for its file, so storage can skip the temporary copy."""
    text = text.strip().lower()
    if not text:
        return None
    if len(text) != 64 or any(c not in "0123456789abcdef" for c in text):
        raise InvalidRequest("sha256 must be the 64 hex digits of the file's SHA-256 digest")
    return text


def discard_blobs(session: Session, storage: Storage, blobs: list[WrittenBlob | None]) -> None:
    """Remove the bytes of a refused upload.

    A blob written straight to its content key may be the same bytes an earlier version
    holds: it is removed only while no artifact refers to it.
    """
    for blob in blobs:
        if blob is None:
            continue
        if blob.at_content_key and session.scalar(
            select(Artifact.id).where(Artifact.storage_key == blob.temp_key).limit(1)
        ):
            continue
        storage.delete(blob.temp_key)


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
    only after the bytes sit under their content key, so a version never points at missing
    bytes. (A unit of work that then fails to commit leaves the bytes unreferenced, for `gc`.)
    """
    temporary = [blob for blob in (source, example_inputs) if blob is not None]
    filename = catalog.safe_filename(filename)
    try:
        validate_name("model", model_name)
        limits = ArchiveLimits.from_settings(settings)
        detected = detect_upload(
            lambda: storage.open(source.temp_key), filename, options.declared_format, limits
        )
        targets = plan_targets(detected.kind, options.targets)
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
    session.add(version)
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
    # A .tflite source still gets one job: describing its signature in a worker.
    for target in targets or [DESCRIBE]:
        jobs.queue_job(session, version, target, actor)
    session.flush()
    return version


def rerun_conversions(
    session: Session, version: ModelVersion, requested: list[str] | None, actor: str
) -> None:
    """Queue a version's conversions again: the requested targets, or its planned ones."""
    planned = plan_targets(version.source_kind, [])
    targets = requested or planned or [DESCRIBE]
    allowed = set(planned) | set(OPTIONAL_TARGETS) if planned else {DESCRIBE}
    if not isinstance(targets, list) or any(t not in allowed for t in targets):
        unknown = [t for t in targets if t not in allowed] if isinstance(targets, list) else []
        raise InvalidRequest(
            f"cannot convert a {version.source_kind} into {', '.join(map(str, unknown))}: "
            f"choose from {', '.join(sorted(allowed))}"
        )
    jobs.requeue(session, version, targets, actor)
