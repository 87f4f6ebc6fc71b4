"""Blobs in an S3 bucket: `prefix/tmp/<uuid>` while written, `prefix/blobs/sha256/..` after
(a direct upload: `prefix/blobs/direct/..`, where its multipart upload completed).

Writes are streamed as a multipart upload with a bounded number of parts in flight, so
memory stays at most (parts_in_flight + 1) x part_size whatever the blob size. Promotion is
a server-side copy (parallel UploadPartCopy for large objects), then the temporary object is
deleted. Reads are ranged GETs. Every S3 call is bounded by the client's CallPolicy.
"""

from __future__ import annotations

import io
import logging
import os
import threading
import uuid
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING, Any, BinaryIO

from botocore.exceptions import BotoCoreError, ClientError

from ..base import (
    CHUNK_SIZE,
    BlobNotFound,
    HashingCounter,
    StorageError,
    StoredBlob,
    StoredPart,
    UnfinishedUpload,
    WrittenBlob,
    blob_key,
    verify_digest,
)
from .blob_writer import S3BlobWriter
from .client import make_client, parse_s3_url
from .errors import is_missing, storage_error, storage_errors
from .multipart_upload import (
    ABANDONED_UPLOAD_AGE,
    MIN_PART_SIZE,
    MiB,
    MultipartUpload,
    abort_abandoned,
)
from .range_copy import copy_in_ranges
from .ranged_reader import BODY_ERRORS, DEFAULT_READ_AHEAD, S3RawReader

if TYPE_CHECKING:
    from registry.settings import Settings

log = logging.getLogger(__name__)

MAX_COPY_OBJECT = 5 * 1024 * MiB  # the largest object a single CopyObject may copy
# Promotion: up to this size a single CopyObject, above it parallel UploadPartCopy of
# 128 MiB ranges (needed past 5 GiB anyway). Measured on SeaweedFS, 2 cores: every strategy
# rewrites the bytes at ~190-200 MiB/s; CopyObject is as fast up to 256 MiB (1.6 s), ranged
# copies ~8% faster at 1 GiB (5.1 s vs 5.5 s), boto3's managed copy slowest (6.1 s).
DEFAULT_COPY_THRESHOLD = 256 * MiB
DEFAULT_COPY_PART_SIZE = 128 * MiB
MAX_PRESIGNED_SECONDS = 7 * 24 * 3600  # SigV4's longest validity
# How far the store's clock may lag this host's before an object looks older than it is.
CLOCK_SKEW = timedelta(minutes=15)


class S3Storage:
    """The `Storage` protocol over `s3://bucket/prefix`."""

    def __init__(
        self,
        bucket: str,
        prefix: str = "",
        client=None,
        *,
        part_size: int = 16 * MiB,
        parts_in_flight: int = 4,
        copy_threshold: int = DEFAULT_COPY_THRESHOLD,
        copy_part_size: int = DEFAULT_COPY_PART_SIZE,
        read_ahead: int = DEFAULT_READ_AHEAD,
        presign_client=None,
    ) -> None:
        if part_size < MIN_PART_SIZE:
            raise ValueError(f"part_size must be at least {MIN_PART_SIZE} bytes (S3 minimum)")
        if parts_in_flight < 1:
            raise ValueError("parts_in_flight must be at least 1")
        self.bucket = bucket
        self.prefix = prefix.strip("/")
        self.client = client if client is not None else make_client()
        # Presigned URLs are signed for the host clients reach, which may not be the one the
        # registry uses (a container network's name).
        self.presign_client = presign_client if presign_client is not None else self.client
        self.part_size = part_size
        self.parts_in_flight = parts_in_flight
        self.copy_threshold = min(copy_threshold, MAX_COPY_OBJECT)
        self.copy_part_size = max(copy_part_size, MIN_PART_SIZE)
        self.read_ahead = read_ahead
        self._pool: ThreadPoolExecutor | None = None
        self._pool_pid = 0
        self._pool_lock = threading.Lock()
        # Multipart uploads whose abort could not reach S3, aborted again once it answers.
        self._unaborted: list[MultipartUpload] = []
        self._unaborted_lock = threading.Lock()

    @classmethod
    def from_settings(cls, settings: Settings) -> S3Storage:
        bucket, prefix = parse_s3_url(settings.effective_storage_url)
        workers = cls.pool_size(settings.parts_in_flight)
        client = make_client(
            settings.s3_endpoint_url,
            settings.s3_access_key,
            settings.s3_secret_key,
            settings.s3_region,
            max_pool_connections=workers + 4,
            connect_timeout=settings.s3_connect_timeout_seconds,
            read_timeout=settings.s3_read_timeout_seconds,
        )
        presign_client = None
        if settings.s3_public_endpoint_url:
            presign_client = make_client(
                settings.s3_public_endpoint_url,
                settings.s3_access_key,
                settings.s3_secret_key,
                settings.s3_region,
            )
        return cls(
            bucket,
            prefix,
            client,
            part_size=settings.part_size_bytes,
            parts_in_flight=settings.parts_in_flight,
            presign_client=presign_client,
        )

    @staticmethod
    def pool_size(parts_in_flight: int) -> int:
        """Upload threads shared by all writers of one storage (two full-speed uploads)."""
        return max(2 * parts_in_flight, 4)

    def __repr__(self) -> str:
        return f"S3Storage(bucket={self.bucket!r}, prefix={self.prefix!r})"

    def _full(self, key: str) -> str:
        if not key or key.startswith("/"):
            raise ValueError(f"invalid storage key: {key!r}")
        return f"{self.prefix}/{key}" if self.prefix else key

    def _executor(self) -> ThreadPoolExecutor:
        # Recreated after a fork (prefork workers): threads do not survive fork().
        pid = os.getpid()
        if self._pool is None or self._pool_pid != pid:
            with self._pool_lock:
                if self._pool is None or self._pool_pid != pid:
                    self._pool = ThreadPoolExecutor(
                        max_workers=self.pool_size(self.parts_in_flight),
                        thread_name_prefix="s3-upload",
                    )
                    self._pool_pid = pid
        return self._pool

    def close(self) -> None:
        """Stop the upload threads (optional; they end with the process anyway)."""
        if self._pool is not None and self._pool_pid == os.getpid():
            self._pool.shutdown(wait=True)
        self._pool = None

    # -- setup and health

    def ensure_bucket(self) -> None:
        """Create the bucket unless it exists."""
        try:
            self.client.head_bucket(Bucket=self.bucket)
            return
        except ClientError as exc:
            if not is_missing(exc):
                raise storage_error(exc, "HeadBucket", self.bucket) from exc
        except BotoCoreError as exc:
            raise storage_error(exc, "HeadBucket", self.bucket) from exc
        region = self.client.meta.region_name
        kwargs: dict[str, Any] = {"Bucket": self.bucket}
        if region and region != "us-east-1":
            kwargs["CreateBucketConfiguration"] = {"LocationConstraint": region}
        try:
            self.client.create_bucket(**kwargs)
        except ClientError as exc:
            code = exc.response.get("Error", {}).get("Code")
            if code not in {"BucketAlreadyOwnedByYou", "BucketAlreadyExists"}:
                raise storage_error(exc, "CreateBucket", self.bucket) from exc
        except BotoCoreError as exc:
            raise storage_error(exc, "CreateBucket", self.bucket) from exc

    def abort_abandoned_uploads(self, older_than: timedelta = ABANDONED_UPLOAD_AGE) -> int:
        """Abort multipart uploads under the prefix older than `older_than`; how many.

        Never raises: listing uploads may not be granted, and this is only a backstop.
        """
        try:
            base = f"{self.prefix}/" if self.prefix else ""
            return abort_abandoned(self.client, self.bucket, base, older_than)
        except StorageError as exc:
            log.warning("could not sweep abandoned uploads of %r: %s", self, exc)
            return 0

    def check(self) -> None:
        try:
            self.client.head_bucket(Bucket=self.bucket)
        except ClientError as exc:
            if is_missing(exc):
                raise StorageError(f"S3 bucket {self.bucket!r} does not exist") from exc
            raise storage_error(exc, "HeadBucket", self.bucket) from exc
        except BotoCoreError as exc:
            raise storage_error(exc, "HeadBucket", self.bucket) from exc

    # -- writing

    def writer(self, expected_sha256: str | None = None) -> S3BlobWriter:
        return S3BlobWriter(self, expected_sha256)

    def abort_later(self, upload: MultipartUpload) -> None:
        """Keep an upload whose abort could not reach S3, for `abort_unaborted`."""
        with self._unaborted_lock:
            if upload not in self._unaborted:  # a writer may be aborted more than once
                self._unaborted.append(upload)

    def abort_unaborted(self) -> None:
        """Abort again the uploads whose abort failed (called once S3 has answered a write):
        an upload cut off by an outage is not left on S3 until the day-old sweep."""
        with self._unaborted_lock:
            pending, self._unaborted = self._unaborted, []
        still = [upload for upload in pending if not upload.abort()]
        if still:
            with self._unaborted_lock:
                self._unaborted += still

    def promote(self, blob: WrittenBlob) -> str:
        if blob.at_final_key:
            return blob.temp_key
        key = blob_key(blob.sha256)
        # Copied also over the same bytes held already: S3 has no cheaper way to make an
        # object's modification time now, which keeps `delete_stale` off bytes being reused.
        self.copy(blob.temp_key, key, blob.size)
        self.delete(blob.temp_key)
        return key

    def copy(self, source_key: str, key: str, size: int) -> None:
        """Write `source_key`'s bytes to `key` server-side (`key` itself: refresh it)."""
        src, dst = self._full(source_key), self._full(key)
        if size <= self.copy_threshold:
            with storage_errors("CopyObject", source_key):
                self.client.copy_object(
                    Bucket=self.bucket,
                    Key=dst,
                    CopySource={"Bucket": self.bucket, "Key": src},
                    # Required to copy an object onto itself; it carries no metadata anyway.
                    MetadataDirective="REPLACE",
                )
        else:
            copy_in_ranges(
                MultipartUpload.start(self.client, self.bucket, dst),
                src,
                size,
                self.copy_part_size,
                self._executor(),
                self.parts_in_flight,
            )

    # -- transfers that bypass the registry (DirectTransfers)

    def find_direct_upload(self, prefix: str) -> UnfinishedUpload | None:
        full = self._full(prefix)
        base = f"{self.prefix}/" if self.prefix else ""
        paginator = self.client.get_paginator("list_multipart_uploads")
        with storage_errors("ListMultipartUploads", prefix):
            uploads = [
                upload
                for page in paginator.paginate(Bucket=self.bucket, Prefix=full)
                for upload in page.get("Uploads", ())
            ]
        if not uploads:
            return None
        newest = max(uploads, key=lambda upload: upload["Initiated"])
        return UnfinishedUpload(newest["Key"][len(base) :], newest["UploadId"])

    def start_direct_upload(self, prefix: str) -> UnfinishedUpload:
        found = self.find_direct_upload(prefix)
        if found is not None:
            return found
        key = f"{prefix}{uuid.uuid4().hex}"
        return UnfinishedUpload(
            key, MultipartUpload.start(self.client, self.bucket, self._full(key)).upload_id
        )

    def stored_parts(self, upload: UnfinishedUpload) -> list[StoredPart]:
        paginator = self.client.get_paginator("list_parts")
        with storage_errors("ListParts", upload.key):
            return [
                StoredPart(part["PartNumber"], part["Size"], part["ETag"].strip('"'))
                for page in paginator.paginate(
                    Bucket=self.bucket, Key=self._full(upload.key), UploadId=upload.upload_id
                )
                for part in page.get("Parts", ())
            ]

    def part_url(self, upload: UnfinishedUpload, number: int, expires_seconds: int) -> str:
        return self.presign_client.generate_presigned_url(
            "upload_part",
            Params={
                "Bucket": self.bucket,
                "Key": self._full(upload.key),
                "UploadId": upload.upload_id,
                "PartNumber": number,
            },
            ExpiresIn=min(expires_seconds, MAX_PRESIGNED_SECONDS),
        )

    def complete_direct_upload(self, upload: UnfinishedUpload, parts: list[StoredPart]) -> None:
        multipart = MultipartUpload(
            self.client, self.bucket, self._full(upload.key), upload.upload_id
        )
        multipart.complete(
            [{"PartNumber": part.number, "ETag": f'"{part.etag}"'} for part in parts]
        )

    def check_in_place(self, key: str, sha256: str) -> WrittenBlob:
        checked_at = datetime.now(UTC)
        try:
            meta = self.head(key)
            verify_digest(self._sha256_of(key), sha256)
        except BaseException:
            self.delete(key)
            raise
        size = int(meta["ContentLength"])
        # AWS dates a completed multipart object by the start of its upload, which may be
        # hours before: refreshed, so that `gc` does not take it for bytes long unused.
        if meta["LastModified"] < checked_at - CLOCK_SKEW:
            self.copy(key, key, size)
        return WrittenBlob(key, sha256, size, in_place=True)

    def _sha256_of(self, key: str) -> str:
        counted = HashingCounter()
        for chunk in self.iter_bytes(key):
            counted.update(chunk)
        return counted.hexdigest

    def download_url(self, key: str, expires_seconds: int, filename: str) -> str:
        return self.presign_client.generate_presigned_url(
            "get_object",
            Params={
                "Bucket": self.bucket,
                "Key": self._full(key),
                "ResponseContentDisposition": f'attachment; filename="{filename}"',
            },
            ExpiresIn=min(expires_seconds, MAX_PRESIGNED_SECONDS),
        )

    # -- reading

    def head(self, key: str) -> dict[str, Any]:
        with storage_errors("HeadObject", key):
            return self.client.head_object(Bucket=self.bucket, Key=self._full(key))

    def size(self, key: str) -> int:
        return int(self.head(key)["ContentLength"])

    def open(self, key: str) -> BinaryIO:
        meta = self.head(key)
        raw = S3RawReader(
            self, key, int(meta["ContentLength"]), meta.get("ETag"), read_ahead=self.read_ahead
        )
        return io.BufferedReader(raw, buffer_size=self.read_ahead)  # type: ignore[return-value]

    def iter_bytes(self, key: str, start: int = 0, end: int | None = None) -> Iterator[bytes]:
        if start < 0 or (end is not None and end < start):
            raise ValueError(f"invalid byte range {start}-{end}")
        kwargs: dict[str, Any] = {}
        if start or end is not None:
            kwargs["Range"] = f"bytes={start}-{'' if end is None else end}"
        try:
            resp = self.client.get_object(Bucket=self.bucket, Key=self._full(key), **kwargs)
        except ClientError as exc:
            if exc.response.get("Error", {}).get("Code") == "InvalidRange":
                return iter(())  # start beyond the end: nothing, like a short file
            raise storage_error(exc, "GetObject", key) from exc
        except BotoCoreError as exc:
            raise storage_error(exc, "GetObject", key) from exc
        return self._stream(resp["Body"], key)

    @staticmethod
    def _stream(body, key: str) -> Iterator[bytes]:
        try:
            while True:
                try:
                    chunk = body.read(CHUNK_SIZE)
                except BODY_ERRORS as exc:
                    raise storage_error(exc, "GetObject", key) from exc
                if not chunk:
                    return
                yield chunk
        finally:
            body.close()

    def exists(self, key: str) -> bool:
        try:
            self.client.head_object(Bucket=self.bucket, Key=self._full(key))
            return True
        except ClientError as exc:
            if is_missing(exc):
                return False
            raise storage_error(exc, "HeadObject", key) from exc
        except BotoCoreError as exc:
            raise storage_error(exc, "HeadObject", key) from exc

    def delete(self, key: str) -> None:
        with storage_errors("DeleteObject", key):
            self.client.delete_object(Bucket=self.bucket, Key=self._full(key))

    def keys(self, prefix: str = "") -> Iterator[str]:
        return (blob.key for blob in self.list_blobs(prefix))

    def list_blobs(self, prefix: str = "") -> Iterator[StoredBlob]:
        base = f"{self.prefix}/" if self.prefix else ""
        paginator = self.client.get_paginator("list_objects_v2")
        with storage_errors("ListObjectsV2", prefix):
            for page in paginator.paginate(Bucket=self.bucket, Prefix=base + prefix):
                for obj in page.get("Contents", ()):
                    yield StoredBlob(obj["Key"][len(base) :], obj["Size"], obj["LastModified"])

    def delete_stale(self, key: str, modified_before: datetime) -> bool:
        # S3 has no delete conditional on age: a promotion refreshing these bytes between the
        # HEAD and the DELETE (milliseconds) is the one interleaving this cannot see.
        try:
            modified_at = self.head(key)["LastModified"]
        except BlobNotFound:
            return False
        if modified_at >= modified_before:
            return False
        self.delete(key)
        return True
