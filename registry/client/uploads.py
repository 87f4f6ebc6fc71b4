"""Upload bodies streamed from disk: multipart/form-data with file parts read as they are sent.

A file part has a known size, so the whole body gets an exact Content-Length; a directory
part is packed on the fly into a deterministic .tar.gz (`pack_directory` in a thread feeding
the body in bounded chunks) and sent with chunked transfer encoding: no temporary copy, and
memory stays flat whatever the model's size.
"""

from __future__ import annotations

import hashlib
import os
import stat
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

from registry.archives.directories import pack_directory
from registry.archives.streams import written_chunks
from registry.client.errors import InvalidUpload

CHUNK = 1024 * 1024

# progress(bytes_done, bytes_total): total is None when it cannot be known up front.
Progress = Callable[[int, "int | None"], None]


@dataclass
class FilePart:
    """One file field: `size` is the bytes sent (None: unknown until sent, for directories)."""

    field: str
    filename: str
    size: int | None
    chunks: Callable[[], Iterator[bytes]]
    # For progress: how much of the source has been read, out of how much.
    source_total: int
    source_done: Callable[[], int]


def file_sha256(path: Path) -> str:
    """The file's SHA-256, read once before sending (the page cache makes the send cheap)."""
    digest = hashlib.sha256()
    with path.open("rb") as stream:
        while chunk := stream.read(CHUNK):
            digest.update(chunk)
    return digest.hexdigest()


def file_part(field: str, path: Path) -> FilePart:
    """A regular file, read from disk 1 MiB at a time as the body is sent."""
    size = path.stat().st_size
    done = [0]

    def chunks() -> Iterator[bytes]:
        with path.open("rb") as stream:
            while chunk := stream.read(CHUNK):
                done[0] += len(chunk)
                yield chunk

    return FilePart(field, path.name, size, chunks, size, lambda: done[0])


def directory_part(field: str, path: Path) -> FilePart:
    """A directory packed into a .tar.gz as the body is sent; progress counts files read."""
    total = directory_size(path)
    done = [0]

    def count(n: int) -> None:  # runs in the packing thread, the only writer of done
        done[0] += n

    def chunks() -> Iterator[bytes]:
        return written_chunks(lambda out: pack_directory(path, out, on_bytes_read=count))

    name = path.resolve().name or "model"
    return FilePart(field, f"{name}.tar.gz", None, chunks, total, lambda: done[0])


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


def _quote(value: str) -> str:
    """A header parameter value as browsers send it: CR, LF and `"` percent-encoded."""
    return value.replace("\r", "%0D").replace("\n", "%0A").replace('"', "%22")


class MultipartBody:
    """A multipart/form-data body: text fields first, then file parts streamed from disk."""

    def __init__(
        self, fields: dict[str, str], files: list[FilePart], progress: Progress | None = None
    ) -> None:
        self.boundary = f"registry-{uuid.uuid4().hex}"
        self._fields, self._files, self._progress = fields, files, progress

    @property
    def content_type(self) -> str:
        return f"multipart/form-data; boundary={self.boundary}"

    def _field_head(self, name: str) -> bytes:
        return (
            f'--{self.boundary}\r\nContent-Disposition: form-data; name="{_quote(name)}"\r\n\r\n'
        ).encode()

    def _file_head(self, part: FilePart) -> bytes:
        return (
            f"--{self.boundary}\r\nContent-Disposition: form-data; "
            f'name="{_quote(part.field)}"; filename="{_quote(part.filename)}"\r\n'
            "Content-Type: application/octet-stream\r\n\r\n"
        ).encode()

    def _tail(self) -> bytes:
        return f"--{self.boundary}--\r\n".encode()

    def length(self) -> int | None:
        """The exact length of the body, or None when a part's size is not known up front."""
        if any(part.size is None for part in self._files):
            return None
        total = len(self._tail())
        for name, value in self._fields.items():
            total += len(self._field_head(name)) + len(value.encode()) + 2
        for part in self._files:
            total += len(self._file_head(part)) + part.size + 2  # type: ignore[operator]
        return total

    def __iter__(self) -> Iterator[bytes]:
        for name, value in self._fields.items():
            yield self._field_head(name) + value.encode() + b"\r\n"
        total = sum(part.source_total for part in self._files)
        finished = 0
        for part in self._files:
            yield self._file_head(part)
            for chunk in part.chunks():
                yield chunk
                self._report(finished + part.source_done(), total)
            finished += part.source_total
            self._report(finished, total)
            yield b"\r\n"
        yield self._tail()

    def _report(self, done: int, total: int) -> None:
        if self._progress is not None:
            self._progress(min(done, total), total)

    def request_data(self) -> object:
        """What to give `requests` as `data`: sized (Content-Length) when the length is known."""
        length = self.length()
        return iter(self) if length is None else _Sized(self, length)


class _Sized:
    """An iterable body with a length: requests sends it with that Content-Length, unchunked."""

    def __init__(self, body: MultipartBody, length: int) -> None:
        self._body, self._length = body, length

    def __iter__(self) -> Iterator[bytes]:
        return iter(self._body)

    def __len__(self) -> int:
        return self._length
