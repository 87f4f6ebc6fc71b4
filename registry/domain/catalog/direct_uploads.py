"""Direct uploads: a version's file sent by the client straight to S3, in parts, through
presigned URLs; then checked and recorded exactly like an upload through the API.

The upload is a multipart upload of a key of its own under a prefix named after who uploads
what (model, actor, sha256, size), so asking again for the same file finds the parts already
stored and the client sends only the others. Finishing joins the parts and reads them back
to check the sha256 (a mismatch removes them). The checked bytes stay where they were joined
(a copy to their content key would rewrite every byte on SeaweedFS), unless a live version
holds the same bytes already: then that copy is shared and the new one removed. Then
`uploads.create_version` does inspection, version and jobs. Until the version commits nothing
refers to the bytes: joined but never recorded, `registry gc` removes them after its grace
period; an upload never finished is aborted a day after it began
(`S3Storage.abort_abandoned_uploads`, run by `registry gc` and whenever a process opens the
store).
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta

from sqlalchemy.orm import Session

from registry.db.models import ModelVersion
from registry.domain.catalog import uploads
from registry.domain.catalog.uploads import UploadOptions
from registry.errors import (
    DirectUploadsUnavailable,
    PartsMissing,
    UploadNotFound,
    UploadTooLarge,
)
from registry.settings import Settings
from registry.storage import BlobNotFound, DirectTransfers, Storage
from registry.vocabulary import validate_name

DIRECT_PREFIX = "blobs/direct/"
MAX_PARTS = 10_000  # S3's limit on the parts of one upload


@dataclass(frozen=True)
class DirectUploadRequest:
    """What the client declares about the file it is about to send, and the upload fields."""

    filename: str
    size: int
    sha256: str
    options: UploadOptions
    # To finish: number -> ETag of each part as the client sent it.
    parts: dict[int, str] = field(default_factory=dict)


@dataclass(frozen=True)
class PartTicket:
    """Where to PUT one part, and the ETags of the copies of it the store holds already."""

    number: int
    size: int
    url: str
    stored_etags: list[str]


@dataclass(frozen=True)
class DirectUpload:
    """An unfinished direct upload: its parts, and until when their URLs are valid."""

    id: str
    part_size: int
    parts: list[PartTicket]
    urls_expire_at: datetime


def start_upload(
    storage: Storage,
    settings: Settings,
    *,
    model_name: str,
    request: DirectUploadRequest,
    actor: str,
) -> DirectUpload:
    """Begin a direct upload, or pick up the unfinished one of the same file."""
    store = _direct_store(storage)
    upload_id = _upload_id(settings, model_name, request, actor)
    storage_upload = store.start_direct_upload(_key_prefix(upload_id))
    stored = store.stored_parts(storage_upload)
    expiry = settings.direct_upload_url_seconds
    plan = plan_parts(request.size, settings.part_size_bytes)
    tickets = [
        PartTicket(
            number,
            size,
            store.part_url(storage_upload, number, expiry),
            [part.etag for part in stored if (part.number, part.size) == (number, size)],
        )
        for number, size in plan
    ]
    return DirectUpload(
        upload_id,
        plan[0][1],
        tickets,
        datetime.now(UTC) + timedelta(seconds=expiry),
    )


def finish_upload(
    session: Session,
    storage: Storage,
    settings: Settings,
    *,
    model_name: str,
    upload_id: str,
    request: DirectUploadRequest,
    actor: str,
) -> ModelVersion:
    """Join the stored parts, check the sha256, and record the version like any upload."""
    store = _direct_store(storage)
    if upload_id != _upload_id(settings, model_name, request, actor):
        raise UploadNotFound(
            f"no direct upload {upload_id} of this file by {actor} to {model_name!r}: finish it "
            "with the filename, size and sha256 it was started with"
        )
    storage_upload = store.find_direct_upload(_key_prefix(upload_id))
    if storage_upload is None:
        raise UploadNotFound(
            f"direct upload {upload_id} is not in progress (finished, refused or abandoned): "
            "start it again"
        )
    # A part sent twice may be listed twice (SeaweedFS): the client names the copy it sent.
    stored = {
        (part.number, part.etag, part.size): part for part in store.stored_parts(storage_upload)
    }
    plan = plan_parts(request.size, settings.part_size_bytes)
    wanted = [(number, request.parts.get(number), size) for number, size in plan]
    missing = [part[0] for part in wanted if part not in stored]
    if missing:
        raise PartsMissing(
            f"{len(missing)} of {len(plan)} parts are not stored yet (first: {missing[0]}): "
            "send them (or name the ETag each was stored with), then finish the upload again"
        )
    try:
        store.complete_direct_upload(storage_upload, [stored[part] for part in wanted])
    except BlobNotFound as error:  # finished by a concurrent request
        raise UploadNotFound(f"direct upload {upload_id} is no longer in progress") from error
    checked = store.check_in_place(storage_upload.key, request.sha256)
    source = uploads.share_held_bytes(session, storage, checked)
    return uploads.create_version(
        session,
        storage,
        settings,
        model_name=model_name,
        source=source,
        filename=request.filename,
        options=request.options,
        example_inputs=None,
        actor=actor,
    )


def plan_parts(size: int, part_size: int) -> list[tuple[int, int]]:
    """(number, size) of each part: `part_size` each but the last, grown if S3's part count
    limit requires it."""
    part_size = max(part_size, -(-size // MAX_PARTS))
    count = max(1, -(-size // part_size))
    return [(n + 1, min(part_size, size - n * part_size)) for n in range(count)]


def _direct_store(storage: Storage) -> DirectTransfers:
    if not isinstance(storage, DirectTransfers):
        raise DirectUploadsUnavailable(
            "this registry keeps artifacts in a local directory, which takes no direct "
            "uploads: send the file through POST /api/v1/models/{name}/versions"
        )
    return storage


def _key_prefix(upload_id: str) -> str:
    """Where the upload's keys lie: one per multipart upload, never reused, since a finished
    one may hold a version's bytes."""
    return f"{DIRECT_PREFIX}{upload_id}/"


def _upload_id(settings: Settings, model_name: str, request: DirectUploadRequest, actor: str):
    """The upload's name, the same whenever this actor sends these bytes to this model."""
    validate_name("model", model_name)
    if request.size > settings.max_upload_bytes:
        raise UploadTooLarge(
            f"upload of {request.size} bytes exceeds the limit of {settings.max_upload_bytes} "
            "bytes (REGISTRY_MAX_UPLOAD_BYTES)"
        )
    named = "\0".join((model_name, actor, request.sha256, str(request.size)))
    return hashlib.sha256(named.encode()).hexdigest()[:32]
