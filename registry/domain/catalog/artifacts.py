"""Reading artifact bytes back, with the sha256 recorded at write time checked on the way."""

from __future__ import annotations

import hashlib
import logging
from collections.abc import Iterator
from pathlib import Path

from sqlalchemy.orm import Session

from registry.db.models import Artifact, ModelVersion
from registry.domain.ledger import audit
from registry.errors import ArtifactNotFound, CorruptArtifact
from registry.storage import Storage

log = logging.getLogger(__name__)

MEDIA_TYPES = {
    "file": "application/octet-stream",
    "tar.gz": "application/gzip",
    "zip": "application/zip",
}


def find_artifact(version: ModelVersion, kind: str) -> Artifact:
    for artifact in version.artifacts:
        if artifact.kind == kind:
            return artifact
    kinds = ", ".join(a.kind for a in version.artifacts) or "none yet"
    raise ArtifactNotFound(
        f"version {version.number} of {version.model.name!r} has no {kind!r} artifact "
        f"(it has: {kinds}; status {version.status})"
    )


def record_download(
    session: Session,
    version: ModelVersion,
    artifact: Artifact,
    actor: str,
    byte_range: str | None = None,
) -> None:
    """An audit event for bytes handed out (REGISTRY_AUDIT_DOWNLOADS)."""
    audit.record(
        session,
        actor,
        "artifact.downloaded",
        f"{audit.version_subject(version.model.name, version.number)}/artifact/{artifact.kind}",
        model=version.model.name,
        details={"kind": artifact.kind, "sha256": artifact.sha256, "range": byte_range},
    )


def verified_stream(storage: Storage, artifact: Artifact) -> Iterator[bytes]:
    """The artifact's bytes, hashed on the way out.

    The last chunk is held back until the digest is known: on a mismatch the stream breaks off
    short of the announced length, so a client never silently receives corrupted bytes.
    """
    digest = hashlib.sha256()
    held: bytes | None = None
    for chunk in storage.iter_bytes(artifact.storage_key):
        if held is not None:
            yield held
        digest.update(chunk)
        held = chunk
    if digest.hexdigest() != artifact.sha256:
        log.error(
            "artifact %s (%s) in storage has sha256 %s, recorded %s",
            artifact.id,
            artifact.storage_key,
            digest.hexdigest(),
            artifact.sha256,
        )
        raise CorruptArtifact(
            f"stored bytes of artifact {artifact.kind} do not match their recorded sha256"
        )
    if held is not None:
        yield held


def download_verified(storage: Storage, artifact: Artifact, destination: Path) -> None:
    """Copy an artifact to a local file; a sha256 mismatch removes the file and raises."""
    try:
        with destination.open("wb") as out:
            for chunk in verified_stream(storage, artifact):
                out.write(chunk)
    except BaseException:
        destination.unlink(missing_ok=True)
        raise
