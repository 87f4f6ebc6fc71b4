"""What an upload sends, as files for httpx's multipart encoder, read from disk as it is sent.

httpx encodes the multipart/form-data body: the text fields first (so the `sha256` field
arrives before the file), then each file read 64 KiB at a time, with an exact Content-Length
when every file's size is known and chunked transfer encoding when one is not. What stays
here is what no encoder knows: a directory is packed on the fly into a deterministic .tar.gz
(`pack_directory` in a thread feeding bounded chunks: no temporary copy, memory flat whatever
the model's size), and progress counts the model's own bytes (a directory's: its files'),
not the encoded body's.
"""

from __future__ import annotations

import hashlib
import os
import stat
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import BinaryIO

from registry.archives.directories import pack_directory
from registry.archives.streams import ChunkReader, written_chunks
from registry.client.errors import InvalidUpload

CHUNK = 1024 * 1024
OCTET_STREAM = "application/octet-stream"

# progress(bytes_done, bytes_total): total is None when it cannot be known up front.
Progress = Callable[[int, "int | None"], None]

# A file field as httpx takes it: (filename, readable file, content type).
FileField = tuple[str, "ReportingReader | BinaryIO", str]


def file_sha256(path: Path) -> str:
    """The file's SHA-256, read once before sending (the page cache makes the send cheap)."""
    digest = hashlib.sha256()
    with path.open("rb") as stream:
        while chunk := stream.read(CHUNK):
            digest.update(chunk)
    return digest.hexdigest()


def directory_size(path: Path) -> int:
    """The total size of the files under `path`; InvalidUpload if it holds anything else.

    Checked before the first byte is sent: the packer refuses links and special files too,
    but by then the request would be half sent.
    """
    total = 0
    for parent, dirs, files in os.walk(path):
        for name in dirs + files:
            entry = os.path.join(parent, name)
            st = os.lstat(entry)
            if stat.S_ISREG(st.st_mode):
                total += st.st_size
            elif not stat.S_ISDIR(st.st_mode):
                raise InvalidUpload(
                    f"cannot upload {path}: {entry} is not a regular file or directory (links "
                    "and special files are not packed); copy what it points to instead"
                )
    return total


class ReportingReader:
    """A readable file for httpx that tells `progress(done, total)` after every read.

    `done()` is how much of the source has been read, which for a packed directory is not
    what was sent.
    """

    def __init__(
        self, stream: BinaryIO, total: int, done: Callable[[], int], progress: Progress | None
    ) -> None:
        self._stream, self._total, self._done, self._progress = stream, total, done, progress

    def read(self, size: int = -1) -> bytes:
        chunk = self._stream.read(size)
        if self._progress is not None:
            self._progress(min(self._done(), self._total), self._total)
        return chunk

    def fileno(self) -> int:
        """httpx sizes the body from this; a packed directory has none, so it goes chunked."""
        return self._stream.fileno()


@contextmanager
def model_field(path: Path, progress: Progress | None = None) -> Iterator[FileField]:
    """The model at `path` as a file field: a file read from disk, or a directory packed into
    `<name>.tar.gz` as it is sent. Leaving the block closes it (and stops the packing)."""
    if path.is_dir():
        total = directory_size(path)
        packed = [0]

        def count(n: int) -> None:  # runs in the packing thread, the only writer of packed
            packed[0] += n

        stream: BinaryIO = ChunkReader(  # type: ignore[assignment]
            written_chunks(lambda out: pack_directory(path, out, on_bytes_read=count))
        )
        filename, done = f"{path.resolve().name or 'model'}.tar.gz", lambda: packed[0]
    else:
        stream = path.open("rb")
        filename, total, done = path.name, path.stat().st_size, stream.tell
    with stream:
        yield filename, ReportingReader(stream, total, done, progress), OCTET_STREAM


@contextmanager
def file_field(path: Path) -> Iterator[FileField]:
    """A file as a file field, read from disk as it is sent."""
    with path.open("rb") as stream:
        yield path.name, stream, OCTET_STREAM
