"""Checking the recorded artifacts of live versions against their bytes in storage.

Each stored object is read once, streamed and hashed chunk by chunk (memory stays at one
chunk whatever its size), however many artifacts share it.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import asdict, dataclass

from sqlalchemy import select
from sqlalchemy.orm import Session

from registry.db.models import Artifact, Model, ModelVersion
from registry.domain.catalog import models as catalog
from registry.storage import BlobNotFound, HashingCounter, Storage

# Told the bytes hashed so far and the bytes to hash in all.
Progress = Callable[[int, int], None]


@dataclass(frozen=True)
class RecordedArtifact:
    """An artifact as recorded, detached from the database."""

    model: str
    version: int
    kind: str
    sha256: str
    size: int
    storage_key: str


@dataclass(frozen=True)
class ArtifactProblem:
    """An artifact whose bytes are `missing` from storage, or `corrupt` (another sha256 or
    size than recorded: what was found is given)."""

    artifact: RecordedArtifact
    problem: str
    found_sha256: str | None = None
    found_size: int | None = None

    def as_dict(self) -> dict:
        return {
            **asdict(self.artifact),
            "problem": self.problem,
            "found_sha256": self.found_sha256,
            "found_size": self.found_size,
        }


def recorded_artifacts(session: Session, model_name: str | None = None) -> list[RecordedArtifact]:
    """Every artifact of the versions not deleted (of one model, if named), by model,
    version and kind."""
    statement = (
        select(
            Model.name,
            ModelVersion.number,
            Artifact.kind,
            Artifact.sha256,
            Artifact.size,
            Artifact.storage_key,
        )
        .join(ModelVersion, Artifact.version_id == ModelVersion.id)
        .join(Model, ModelVersion.model_id == Model.id)
        .where(Model.deleted_at.is_(None), ModelVersion.deleted_at.is_(None))
        .order_by(Model.name, ModelVersion.number, Artifact.kind)
    )
    if model_name is not None:
        statement = statement.where(Model.id == catalog.get_model(session, model_name).id)
    return [RecordedArtifact(*row) for row in session.execute(statement)]


def check_stored_bytes(
    storage: Storage, artifacts: list[RecordedArtifact], progress: Progress | None = None
) -> list[ArtifactProblem]:
    """The artifacts whose stored bytes are missing or do not hash as recorded."""
    sizes = {artifact.storage_key: artifact.size for artifact in artifacts}
    total, done = sum(sizes.values()), 0
    found: dict[str, HashingCounter | None] = {}
    for key in sizes:
        counter = HashingCounter()
        try:
            for chunk in storage.iter_bytes(key):
                counter.update(chunk)
                if progress is not None:
                    progress(done + counter.size, total)
        except BlobNotFound:
            counter = None
        found[key] = counter
        done += sizes[key]
    problems = []
    for artifact in artifacts:
        counter = found[artifact.storage_key]
        if counter is None:
            problems.append(ArtifactProblem(artifact, "missing"))
        elif (counter.hexdigest, counter.size) != (artifact.sha256, artifact.size):
            problems.append(ArtifactProblem(artifact, "corrupt", counter.hexdigest, counter.size))
    return problems
