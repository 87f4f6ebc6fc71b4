"""A seekable file over one S3 object, read with ranged GETs."""

from __future__ import annotations

import contextlib
import io
from typing import TYPE_CHECKING, Any

from botocore.exceptions import BotoCoreError, ResponseStreamingError
from urllib3.exceptions import HTTPError as URLLib3HTTPError

from ..base import CHUNK_SIZE
from .errors import storage_error, storage_errors

if TYPE_CHECKING:
    from .store import S3Storage

MiB = 1024 * 1024
DEFAULT_READ_AHEAD = CHUNK_SIZE
MAX_READ_WINDOW = 64 * MiB
# A window with at most this much left unread is drained rather than its connection dropped.
_DRAIN_LIMIT = 256 * 1024
# How a response body fails mid-stream (reset, timeout, truncated), past botocore's retries.
BODY_ERRORS = (BotoCoreError, URLLib3HTTPError, OSError)


class S3RawReader(io.RawIOBase):
    """A seekable raw stream over one object, read with ranged GETs.

    Each GET asks for a window from the current position: `read_ahead` bytes after a seek,
    doubling (up to `max_window`) while reads stay sequential, so a scan costs few requests
    and a random read little more than what it needs. A fully read window leaves its
    connection in the pool for the next one. Wrap in io.BufferedReader for small reads.

    Retrying a GET is botocore's job, but its retries end once the response headers are in:
    a body that breaks mid-window is beyond them. So a read that finds the open window broken
    resumes it with one new GET from the byte reached, instead of failing a download that
    already made progress. One read makes at most one GET, so it waits at most: a stalled
    body (read_timeout) + one GET (CallPolicy.worst_case_seconds) + its body (read_timeout).
    """

    def __init__(
        self,
        storage: S3Storage,
        key: str,
        size: int,
        etag: str | None,
        read_ahead: int = DEFAULT_READ_AHEAD,
        max_window: int = MAX_READ_WINDOW,
    ) -> None:
        super().__init__()
        self._s = storage
        self.key = key
        self.name = key
        self.size = size
        self._etag = etag
        self._min_window = max(read_ahead, 64 * 1024)
        self._max_window = max(max_window, self._min_window)
        self._window = self._min_window
        self._pos = 0
        self._body = None
        self._body_pos = 0  # where the open GET is; valid while _body is set
        self._body_end = 0  # end (exclusive) of the open GET's range

    def readable(self) -> bool:
        return True

    def seekable(self) -> bool:
        return True

    def tell(self) -> int:
        return self._pos

    def seek(self, offset: int, whence: int = io.SEEK_SET) -> int:
        if whence == io.SEEK_SET:
            pos = offset
        elif whence == io.SEEK_CUR:
            pos = self._pos + offset
        elif whence == io.SEEK_END:
            pos = self.size + offset
        else:
            raise ValueError(f"invalid whence: {whence}")
        if pos < 0:
            raise OSError(22, "negative seek position")
        self._pos = pos
        return pos

    def readinto(self, buffer) -> int:
        if self.closed:
            raise ValueError("read of a closed file")
        out = memoryview(buffer).cast("B")
        if min(len(out), self.size - self._pos) <= 0:
            return 0
        opened = False
        while True:
            if self._body is None or self._body_pos != self._pos:
                self._open_window(len(out))
                opened = True
            try:
                data = self._body.read(min(len(out), self._body_end - self._pos))
                if not data:
                    raise ResponseStreamingError(
                        error=f"object ended at {self._pos} of {self.size} bytes"
                    )
                break
            except BODY_ERRORS as exc:
                with contextlib.suppress(Exception):
                    self._body.close()  # no draining: a broken body could only stall again
                self._body = None
                if opened:  # this read's one GET is spent
                    raise storage_error(exc, "GetObject", self.key) from exc
        n = len(data)
        out[:n] = data
        self._pos += n
        self._body_pos = self._pos
        if self._body_pos >= self._body_end:
            self._body.close()  # fully read: the connection is already back in the pool
            self._body = None
        return n

    def _open_window(self, wanted: int) -> None:
        sequential = self._body is None and self._pos == self._body_end and self._pos > 0
        self._drop_stream()
        if sequential:
            self._window = min(self._window * 2, self._max_window)
        else:
            self._window = self._min_window
        length = max(self._window, wanted)
        end = min(self.size, self._pos + length)
        kwargs: dict[str, Any] = {"Range": f"bytes={self._pos}-{end - 1}"}
        if self._etag:
            kwargs["IfMatch"] = self._etag  # the object must not change under the reader
        with storage_errors("GetObject", self.key):
            resp = self._s.client.get_object(
                Bucket=self._s.bucket, Key=self._s._full(self.key), **kwargs
            )
        self._body = resp["Body"]
        self._body_pos = self._pos
        self._body_end = end

    def _drop_stream(self) -> None:
        body, self._body = self._body, None
        if body is None:
            return
        with contextlib.suppress(Exception):
            if self._body_end - self._body_pos <= _DRAIN_LIMIT:
                body.read()  # cheaper than a new connection
            body.close()

    def close(self) -> None:
        self._drop_stream()
        super().close()
