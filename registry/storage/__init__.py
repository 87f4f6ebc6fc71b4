"""Artifact storage: content-addressed blobs in S3 or a local directory."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING
from urllib.parse import unquote, urlsplit

from .base import (
    CHUNK_SIZE,
    BlobNotFound,
    BlobWriter,
    DigestMismatch,
    DirectTransfers,
    HashingCounter,
    Storage,
    StorageError,
    StorageFull,
    StoredBlob,
    StoredPart,
    UnfinishedUpload,
    WrittenBlob,
    blob_key,
)
from .local import LocalStorage

if TYPE_CHECKING:
    from registry.settings import Settings

__all__ = [
    "CHUNK_SIZE",
    "BlobNotFound",
    "BlobWriter",
    "DigestMismatch",
    "DirectTransfers",
    "HashingCounter",
    "LocalStorage",
    "Storage",
    "StorageError",
    "StorageFull",
    "StoredBlob",
    "StoredPart",
    "UnfinishedUpload",
    "WrittenBlob",
    "blob_key",
    "local_path",
    "open_storage",
]


def local_path(url: str) -> Path | None:
    """The directory of a `file:///abs/dir` URL or a plain path; None for other schemes."""
    if url.startswith("file:"):
        parts = urlsplit(url)
        if parts.netloc not in ("", "localhost"):
            raise ValueError(f"file URL with a remote host: {url!r}")
        return Path(unquote(parts.path))
    if "://" in url:
        return None
    return Path(url).expanduser()


def open_storage(settings: Settings) -> Storage:
    """The storage named by `settings.effective_storage_url`, ready to use.

    `s3://bucket/prefix` -> S3Storage (the bucket is created if missing, and multipart
    uploads abandoned long ago are aborted);
    `file:///abs/dir` or a path -> LocalStorage.
    """
    url = settings.effective_storage_url
    if url.startswith("s3://"):
        from .s3 import S3Storage  # boto3 is only imported when S3 is used

        storage = S3Storage.from_settings(settings)
        storage.ensure_bucket()
        storage.abort_abandoned_uploads()
        return storage
    path = local_path(url)
    if path is None:
        raise ValueError(f"unsupported storage URL {url!r}: use s3://bucket/prefix or a path")
    return LocalStorage(path)
