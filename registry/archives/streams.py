"""Joining code that writes a stream to code that reads one, in bounded memory.

`written_chunks` turns a writer (`pack_directory`, a tar being assembled) into an iterator
of chunks, for a streamed HTTP request or response body. `ChunkReader` goes the other way:
an iterator of chunks (a verified storage stream) as a readable file for tarfile and gzip.
"""

from __future__ import annotations

import contextlib
import io
import queue
import threading
from collections.abc import Callable, Iterable, Iterator
from typing import BinaryIO

CHUNK = 1024 * 1024
_END = object()


class _Pipe:
    """The writing end handed to the producer: coalesces writes into chunks on a bounded queue."""

    def __init__(self, chunk_size: int, max_pending: int) -> None:
        self._queue: queue.Queue = queue.Queue(max_pending)
        self._buffer = bytearray()
        self._chunk_size = chunk_size
        self._cancelled = threading.Event()
        self.error: BaseException | None = None

    def write(self, data) -> int:
        if self._cancelled.is_set():
            raise BrokenPipeError("the reader of this stream stopped reading")
        self._buffer += data
        if len(self._buffer) >= self._chunk_size:
            self._put(bytes(self._buffer))
            self._buffer.clear()
        return len(data)

    def flush(self) -> None:
        """Writes are passed on in whole chunks; gzip and tarfile call this, nothing to do."""

    def _put(self, item: object) -> None:
        while True:
            try:
                self._queue.put(item, timeout=0.1)
                return
            except queue.Full:
                if self._cancelled.is_set():
                    raise BrokenPipeError("the reader of this stream stopped reading") from None

    def run(self, produce: Callable[[BinaryIO], None]) -> None:
        try:
            produce(self)  # type: ignore[arg-type]
            if self._buffer:
                self._put(bytes(self._buffer))
        except BaseException as error:  # handed to the reader, which raises it
            self.error = error
        finally:
            with contextlib.suppress(BrokenPipeError):  # the reader is gone already
                self._put(_END)

    def get(self) -> object:
        return self._queue.get()

    def cancel(self) -> None:
        self._cancelled.set()


def written_chunks(
    produce: Callable[[BinaryIO], None], *, chunk_size: int = CHUNK, max_pending: int = 4
) -> Iterator[bytes]:
    """The bytes that `produce(out)` writes to `out`, as an iterator of chunks.

    `produce` runs in a thread and blocks while `max_pending` chunks of about `chunk_size`
    bytes wait for the reader, so memory stays bounded however much it writes. An exception
    in `produce` is raised by the iterator after the chunks written before it. Closing the
    iterator early (a client that hangs up) makes the producer's next write raise
    BrokenPipeError, and waits for its thread to end.
    """
    pipe = _Pipe(chunk_size, max_pending)
    thread = threading.Thread(target=pipe.run, args=(produce,), name="written-chunks", daemon=True)
    thread.start()
    try:
        while (item := pipe.get()) is not _END:
            yield item  # type: ignore[misc]
        if pipe.error is not None:
            raise pipe.error
    finally:
        pipe.cancel()
        thread.join()


class ChunkReader(io.RawIOBase):
    """A readable file over an iterator of byte chunks; closing it closes the iterator."""

    def __init__(self, chunks: Iterable[bytes]) -> None:
        self._chunks = iter(chunks)
        self._pending = memoryview(b"")

    def readable(self) -> bool:
        return True

    def readinto(self, buffer) -> int:
        while not self._pending:
            chunk = next(self._chunks, None)
            if chunk is None:
                return 0
            self._pending = memoryview(chunk)
        n = min(len(buffer), len(self._pending))
        buffer[:n] = self._pending[:n]
        self._pending = self._pending[n:]
        return n

    def close(self) -> None:
        close = getattr(self._chunks, "close", None)
        if close is not None and not self.closed:
            close()
        super().close()
