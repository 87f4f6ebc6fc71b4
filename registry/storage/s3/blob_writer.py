"""Streaming a blob into S3: one PUT if small, else a multipart upload with bounded memory."""

from __future__ import annotations

import logging
import threading
import uuid
import weakref
from collections import deque
from concurrent.futures import Future
from concurrent.futures import wait as wait_futures
from typing import TYPE_CHECKING, Any

from botocore.exceptions import BotoCoreError, ClientError

from ..base import HashingCounter, StorageError, WrittenBlob, blob_key, verify_digest
from .errors import storage_errors
from .multipart_upload import MAX_PARTS, MultipartUpload

if TYPE_CHECKING:
    from .store import S3Storage

log = logging.getLogger(__name__)

TMP_PREFIX = "tmp/"
ASK_ABOVE_BYTES = 1024 * 1024


class S3BlobWriter:
    """Streams a blob to `prefix/tmp/<uuid>`: one PUT if small, else a multipart upload.

    Full parts go to the storage's thread pool; at most `parts_in_flight` of them are
    outstanding (the writer blocks), so memory is bounded by (parts_in_flight + 1) parts.
    Every wait is on S3 calls, each bounded by the client's CallPolicy.

    A multipart upload is aborted on every way out but a successful close(): a failed
    write() or close(), abort(), and a writer dropped without either (a finalizer).
    """

    def __init__(self, storage: S3Storage, expected_sha256: str | None = None) -> None:
        self._s = storage
        self._expected_sha256 = expected_sha256
        # With the digest promised, write straight to the content key: the multipart upload
        # is completed only if the bytes match, so nothing unverified ever appears there, and
        # promotion needs no server-side copy (which rewrites every byte on SeaweedFS).
        self._direct = expected_sha256 is not None
        self.temp_key = (
            blob_key(expected_sha256) if self._direct else f"{TMP_PREFIX}{uuid.uuid4().hex}"
        )
        # Bytes the store already holds need not be sent again: hash them, send nothing. Not
        # asked for a blob of at most ASK_ABOVE_BYTES: its PUT costs about what asking does
        # (and refreshes held bytes as well, see Storage.promote).
        self._already_stored = False
        self._object = storage._full(self.temp_key)
        self._part_size = storage.part_size
        self._hash = HashingCounter()
        # The first part grows as bytes arrive (a small blob costs only its size); later
        # parts fill preallocated or recycled part-sized buffers.
        self._buf = bytearray()
        self._fill = 0
        self._free: deque[bytearray] = deque()
        self._slots = threading.BoundedSemaphore(storage.parts_in_flight)
        self._upload: MultipartUpload | None = None
        self._parts: list[Future[dict[str, Any]]] = []
        self._error: BaseException | None = None
        self._state = "open"  # open -> closed | aborted
        self._result: WrittenBlob | None = None
        self._lock = threading.Lock()

    # -- writing

    def write(self, chunk: bytes) -> None:
        if self._state != "open":
            raise ValueError(f"write to a {self._state} blob writer")
        try:
            self._append(chunk)
        except BaseException:
            # The caller cannot go on with a failed writer: free its parts on S3 now.
            self.abort()
            raise

    def _append(self, chunk: bytes) -> None:
        self._raise_part_error()
        n = len(chunk)
        if not n:
            return
        self._hash.update(chunk)
        if self._already_stored:
            return
        view = memoryview(chunk).cast("B")
        pos = 0
        part_size = self._part_size
        while pos < n:
            if self._fill == part_size:
                # Sent only once more bytes arrive: a blob of exactly one part is one PUT.
                self._send_part()
                if self._already_stored:
                    return
            take = min(n - pos, part_size - self._fill)
            if self._fill == len(self._buf):
                self._buf += view[pos : pos + take]
            else:
                self._buf[self._fill : self._fill + take] = view[pos : pos + take]
            self._fill += take
            pos += take

    def _send_part(self) -> None:
        if self._upload is None and self._direct and self._s.exists(self.temp_key):
            self._already_stored = True
            self._release_buffers()
            return
        if self._upload is None:
            self._upload = MultipartUpload.start(self._s.client, self._s.bucket, self._object)
            # Holds the upload, not the writer: it runs when the writer is collected unclosed.
            weakref.finalize(self, self._upload.abort)
        number = len(self._parts) + 1
        if number > MAX_PARTS:
            raise StorageError(
                f"blob larger than {MAX_PARTS} parts of {self._part_size} bytes; "
                "raise part_size_bytes"
            )
        body = self._buf
        if self._fill < len(body):
            del body[self._fill :]  # the last part: shrink in place, no copy
        self._slots.acquire()  # blocks while parts_in_flight parts are outstanding
        try:
            self._raise_part_error()
            future = self._s._executor().submit(self._upload_part, number, body)
        except BaseException:
            self._slots.release()
            raise
        future.add_done_callback(self._part_done)
        self._parts.append(future)
        self._buf = self._free.popleft() if self._free else bytearray(self._part_size)
        self._fill = 0

    def _upload_part(self, number: int, body: bytearray) -> dict[str, Any]:
        if self._state == "aborted":
            raise StorageError("upload aborted")
        part = self._upload.upload_part(number, body)
        if len(body) == self._part_size:
            self._free.append(body)  # reuse the buffer for a later part
        return part

    def _part_done(self, future: Future[dict[str, Any]]) -> None:
        self._slots.release()
        if not future.cancelled() and future.exception() is not None:
            with self._lock:
                if self._error is None:
                    self._error = future.exception()

    def _raise_part_error(self) -> None:
        if self._error is not None:
            err = self._error
            if isinstance(err, StorageError):
                raise StorageError(str(err)) from err
            raise StorageError(f"S3 upload of {self._object!r} failed: {err}") from err

    # -- finishing

    def close(self) -> WrittenBlob:
        if self._result is not None:
            return self._result
        if self._state != "open":
            raise ValueError(f"close of a {self._state} blob writer")
        try:
            verify_digest(self._hash.hexdigest, self._expected_sha256)
            if self._upload is None and self._direct and self._fill > ASK_ABOVE_BYTES:
                self._already_stored = self._s.exists(self.temp_key)
            if self._already_stored:
                # Nothing sent, but the held bytes are refreshed: see Storage.promote.
                self._s.copy(self.temp_key, self.temp_key, self._hash.size)
            elif self._upload is None:
                body = self._buf
                del body[self._fill :]
                with storage_errors("PutObject", self._object):
                    self._s.client.put_object(Bucket=self._s.bucket, Key=self._object, Body=body)
            else:
                self._send_part()
                wait_futures(self._parts)
                self._raise_part_error()
                self._upload.complete([f.result() for f in self._parts])
        except BaseException:
            self.abort()
            raise
        self._state = "closed"
        self._s.abort_unaborted()
        self._release_buffers()
        self._result = WrittenBlob(self.temp_key, self._hash.hexdigest, self._hash.size)
        return self._result

    def abort(self) -> None:
        """Drop everything written (pending parts, the multipart upload or the object).

        Never raises: it runs while another error is being handled. Calling it again
        retries an abort that could not reach S3.
        """
        was_closed = self._state == "closed"
        self._state = "aborted"
        for f in self._parts:
            f.cancel()
        wait_futures(self._parts)
        self._release_buffers()
        # A completed object at its content key may be shared: the registry decides.
        if was_closed and not self._direct:
            try:
                self._s.client.delete_object(Bucket=self._s.bucket, Key=self._object)
            except (ClientError, BotoCoreError) as exc:
                log.warning("could not delete the aborted blob %s: %s", self._object, exc)
        elif self._upload is not None and not self._upload.abort():
            self._s.abort_later(self._upload)
        self._result = None

    def _release_buffers(self) -> None:
        self._buf = bytearray()
        self._free.clear()

    def __enter__(self) -> S3BlobWriter:
        return self

    def __exit__(self, exc_type, exc, tb) -> None:
        if exc_type is not None:
            self.abort()
