"""The storage interface: content-addressed blobs, written under a temporary key first."""

from __future__ import annotations

import hashlib
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import datetime
from typing import BinaryIO, Protocol, runtime_checkable

CHUNK_SIZE = 1024 * 1024


class StorageError(Exception):
    """Storage failed in a way a retry may fix (unreachable, timed out)."""


class StorageFull(StorageError):
    """The disk under the store is full: nothing more can be written until space is freed."""


class BlobNotFound(StorageError):
    """A key that should exist does not."""


class DigestMismatch(Exception):
    """The bytes written do not hash to the sha256 the writer was promised."""


@dataclass(frozen=True)
class WrittenBlob:
    """A completely written object, not yet recorded by the registry.

    Normally under a temporary key until `promote`; a writer promised the sha256 up front may
    have written straight to the content key (then `temp_key == blob_key(sha256)`), and a
    checked direct upload stays at the key it was completed at (`in_place`).
    """

    temp_key: str
    sha256: str
    size: int
    # Checked where it was written, and kept there: `promote` leaves it at `temp_key`.
    in_place: bool = False
    # The bytes themselves, kept by a writer of a small blob so that reading it (inspection)
    # needs no round trip to the store; they hashed to `sha256` as they were written.
    content: bytes | None = field(default=None, repr=False, compare=False)

    @property
    def at_content_key(self) -> bool:
        return self.temp_key == blob_key(self.sha256)

    @property
    def at_final_key(self) -> bool:
        """Whether `promote` leaves the bytes where they are (another version may share them)."""
        return self.in_place or self.at_content_key


@dataclass(frozen=True)
class StoredBlob:
    """An object as listed: its key, size, and when it was last written or refreshed."""

    key: str
    size: int
    modified_at: datetime


def blob_key(sha256: str) -> str:
    """The content-addressed key of a blob; its only input is a hex digest, never user text."""
    if len(sha256) != 64 or any(c not in "0123456789abcdef" for c in sha256):
        raise ValueError(f"not a sha256 hex digest: {sha256!r}")
    return f"blobs/sha256/{sha256[:2]}/{sha256}"


class BlobWriter(Protocol):
    """Streams one blob to a temporary key, hashing as it goes."""

    def write(self, chunk: bytes) -> None: ...

    def close(self) -> WrittenBlob:
        """Finish the temporary object and return its digest and size."""
        ...

    def abort(self) -> None:
        """Remove every byte written so far; safe to call more than once."""
        ...


class Storage(Protocol):
    """Where artifact bytes live: S3 or a local directory."""

    def writer(self, expected_sha256: str | None = None) -> BlobWriter:
        """A writer; given the digest up front, a store may skip the temporary copy.

        close() raises DigestMismatch (and keeps nothing) when the bytes hash otherwise.
        """
        ...

    def promote(self, blob: WrittenBlob) -> str:
        """Make a temporary blob visible under its content key and return that key (a blob
        `at_final_key` stays where it is: its key is returned).

        If the content key already holds these bytes the temporary object is dropped and the
        held object refreshed (its modification time made now), so that `delete_stale` spares
        bytes about to be recorded again.
        """
        ...

    def open(self, key: str) -> BinaryIO:
        """A readable, seekable file object over a stored object (temporary or promoted)."""
        ...

    def iter_bytes(self, key: str, start: int = 0, end: int | None = None) -> Iterator[bytes]:
        """The bytes of `key` from `start` to `end` inclusive (the whole object by default)."""
        ...

    def exists(self, key: str) -> bool: ...

    def delete(self, key: str) -> None: ...

    def keys(self, prefix: str = "") -> Iterator[str]: ...

    def list_blobs(self, prefix: str = "") -> Iterator[StoredBlob]:
        """Every object under `prefix`, temporary or promoted, with its size and age."""
        ...

    def delete_stale(self, key: str, modified_before: datetime) -> bool:
        """Delete `key` unless it was written or refreshed at or after `modified_before`;
        whether it was deleted (False also when it is gone already)."""
        ...

    def check(self) -> None:
        """Raise StorageError unless the store answers."""
        ...


@dataclass(frozen=True)
class StoredPart:
    """A part of an unfinished direct upload that the store holds (`etag`: its MD5 on S3)."""

    number: int
    size: int
    etag: str


@dataclass(frozen=True)
class UnfinishedUpload:
    """A multipart upload the store holds open: the key it completes at, and its id."""

    key: str
    upload_id: str


@runtime_checkable
class DirectTransfers(Protocol):
    """A store that clients send bytes to and fetch them from without the registry in the
    way, through presigned URLs (S3). The local store has none: its bytes go through the API.

    A direct upload is a multipart upload of a key of its own (never reused): the client PUTs
    its parts to `part_url`s, the registry completes it and checks its sha256 where it lies
    before anything refers to it; the checked object stays there (S3 has no rename, and a
    copy would rewrite every byte).
    """

    def start_direct_upload(self, prefix: str) -> UnfinishedUpload:
        """The newest unfinished upload of a key under `prefix`, or a new one of a fresh key
        under it."""
        ...

    def find_direct_upload(self, prefix: str) -> UnfinishedUpload | None:
        """The newest unfinished upload of a key under `prefix`; None when there is none."""
        ...

    def stored_parts(self, upload: UnfinishedUpload) -> list[StoredPart]: ...

    def part_url(self, upload: UnfinishedUpload, number: int, expires_seconds: int) -> str:
        """A URL that takes one HTTP PUT of part `number`'s bytes until it expires."""
        ...

    def complete_direct_upload(self, upload: UnfinishedUpload, parts: list[StoredPart]) -> None:
        """Join the parts into the object `upload.key`."""
        ...

    def check_in_place(self, key: str, sha256: str) -> WrittenBlob:
        """The object `key`, `in_place`, once its bytes hashed to `sha256`, its modification
        time no older than the check (see `Storage.promote`); raise DigestMismatch, after
        removing it, if they hash otherwise."""
        ...

    def download_url(self, key: str, expires_seconds: int, filename: str) -> str:
        """A URL that serves the object's bytes to one HTTP GET until it expires."""
        ...


def verify_digest(actual: str, expected: str | None) -> None:
    """Raise DigestMismatch unless the bytes hashed to the promised digest (if any)."""
    if expected is not None and actual != expected:
        raise DigestMismatch(
            f"the uploaded bytes hash to sha256 {actual}, not the declared {expected}"
        )


class HashingCounter:
    """Running sha256 and byte count of a stream."""

    def __init__(self) -> None:
        self._hash = hashlib.sha256()
        self.size = 0

    def update(self, chunk: bytes) -> None:
        self._hash.update(chunk)
        self.size += len(chunk)

    @property
    def hexdigest(self) -> str:
        return self._hash.hexdigest()
