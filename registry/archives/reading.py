"""Low-level pieces for reading untrusted archives: names, limits and big-chunk readers.

- `safe_member_name`: no NUL byte, not absolute (`/x`, `\\x`, `C:...`), no `..` component
  (backslashes count as separators).
- `Guard`: the bomb limits of `ArchiveLimits`, checked as entries and bytes go by.
  Compression ratios are only checked once RATIO_FLOOR_BYTES have been unpacked: small
  files compress arbitrarily well (zero-filled weights) and cannot be bombs.
- `GunzipReader`: gzip decompression under a Guard, so every byte of a tar stream (headers
  included) is counted and a gzip bomb is stopped after a bounded amount of work; the gzip
  trailer (CRC, length) is verified.
- `ReadAhead`: a seekable view of a (possibly remote) stream that fetches 1 MiB at a time.

`archive_scan` builds the tar/zip entry checks on these.
"""

from __future__ import annotations

import io
import re
import struct
import tarfile
import zipfile
import zlib
from collections.abc import Iterator
from contextlib import contextmanager
from typing import BinaryIO

from registry.archives.limits import ArchiveLimits, human_bytes
from registry.errors import ArchiveTooLarge, InvalidArchive

CHUNK = 1 << 20
RATIO_FLOOR_BYTES = 8 << 20
_DRIVE = re.compile(r"^[A-Za-z]:")
ENTRIES_LIMIT = "REGISTRY_MAX_ARCHIVE_ENTRIES"
UNPACKED_LIMIT = "REGISTRY_MAX_UNPACKED_BYTES"
RATIO_LIMIT = "REGISTRY_MAX_COMPRESSION_RATIO"


def show(name: str) -> str:
    """A member name fit for a message: control characters escaped, long names cut."""
    text = "".join(c if c.isprintable() else repr(c)[1:-1] for c in name)
    return text if len(text) <= 200 else text[:200] + "..."


def safe_member_name(raw: str) -> str:
    """The normalised relative name of an archive entry ("" for the root), or InvalidArchive."""
    if "\x00" in raw:
        raise InvalidArchive(f"archive entry '{show(raw)}' has a NUL byte in its name")
    if any("\udc80" <= c <= "\udcff" for c in raw):
        raise InvalidArchive(f"archive entry '{show(raw)}' has a name that is not valid UTF-8")
    name = raw.replace("\\", "/")
    if name.startswith("/") or _DRIVE.match(name):
        raise InvalidArchive(
            f"archive entry '{show(raw)}' is an absolute path; entries must be relative"
        )
    parts = [p for p in name.split("/") if p not in ("", ".")]
    if ".." in parts:
        raise InvalidArchive(f"archive entry '{show(raw)}' escapes the archive root")
    return "/".join(parts)


class Guard:
    """Counts entries and bytes and raises as soon as a limit is crossed."""

    def __init__(self, limits: ArchiveLimits) -> None:
        self.limits = limits
        self.entries = 0
        self.declared = 0
        self.current: str | None = None

    def _at(self) -> str:
        return f", reading entry '{show(self.current)}'" if self.current else ""

    def entry(self, raw: str) -> None:
        self.entries += 1
        self.current = raw
        if self.entries > self.limits.max_entries:
            raise ArchiveTooLarge(
                f"archive has more than {self.limits.max_entries} entries (limit {ENTRIES_LIMIT})"
            )

    def too_big(self) -> ArchiveTooLarge:
        limit = human_bytes(self.limits.max_unpacked_bytes)
        return ArchiveTooLarge(f"archive unpacks to more than {limit} (limit {UNPACKED_LIMIT})")

    def declare(self, raw: str, size: int) -> None:
        self.declared += size
        if self.declared > self.limits.max_unpacked_bytes:
            err = self.too_big()
            raise ArchiveTooLarge(f"{err}; the limit is crossed by entry '{show(raw)}'")

    def inflated(self, out_total: int, in_total: int) -> None:
        """Called on every read of a decompressed stream."""
        # Headers and padding of a tar stream are not in the member sizes: allow for them.
        slack = 4096 * (self.limits.max_entries + 1) + CHUNK
        if out_total > self.limits.max_unpacked_bytes + slack:
            raise self.too_big()
        ratio = self.limits.max_compression_ratio
        if out_total > RATIO_FLOOR_BYTES and out_total > ratio * max(in_total, 1):
            raise ArchiveTooLarge(
                f"archive expands more than {ratio} times its compressed size (limit "
                f"{RATIO_LIMIT}){self._at()}; it looks like a compression bomb"
            )


@contextmanager
def corrupt_as_invalid(kind: str) -> Iterator[None]:
    """Turn the errors of tarfile, zipfile and zlib on bad data into InvalidArchive."""
    try:
        yield
    except (tarfile.TarError, zipfile.BadZipFile, zlib.error, EOFError, struct.error) as e:
        raise InvalidArchive(f"the {kind} archive is corrupt or truncated ({e})") from e
    except NotImplementedError as e:  # zipfile: unknown compression or feature
        raise InvalidArchive(f"the {kind} archive uses an unsupported feature ({e})") from e


def read_full(raw: BinaryIO, n: int) -> bytes:
    """Up to n bytes, fewer only at end of stream (raw reads may return short)."""
    parts, got = [], 0
    while got < n:
        data = raw.read(n - got)
        if not data:
            break
        parts.append(data)
        got += len(data)
    return b"".join(parts)


class ReadAhead(io.RawIOBase):
    """A seekable reader that fetches from the underlying stream in big chunks only."""

    def __init__(self, raw: BinaryIO, chunk: int = CHUNK) -> None:
        self._raw, self._chunk = raw, chunk
        self._pos, self._buf, self._buf_at = 0, b"", 0
        self._size: int | None = None

    def readable(self) -> bool:
        return True

    def seekable(self) -> bool:
        return True

    def size(self) -> int:
        if self._size is None:
            self._raw.seek(0, io.SEEK_END)
            self._size = self._raw.tell()
        return self._size

    def tell(self) -> int:
        return self._pos

    def seek(self, offset: int, whence: int = io.SEEK_SET) -> int:
        base = {io.SEEK_SET: 0, io.SEEK_CUR: self._pos, io.SEEK_END: None}[whence]
        pos = (self.size() if base is None else base) + offset
        if pos < 0:
            raise OSError("negative seek position")
        self._pos = pos
        return pos

    def read(self, n: int = -1) -> bytes:
        if n is None or n < 0:
            n = max(self.size() - self._pos, 0)
        parts = []
        while n > 0:
            start = self._pos - self._buf_at
            if 0 <= start < len(self._buf):
                piece = self._buf[start : start + n]
            else:
                self._raw.seek(self._pos)
                if n >= self._chunk:
                    piece = read_full(self._raw, n)
                else:
                    self._buf, self._buf_at = read_full(self._raw, self._chunk), self._pos
                    piece = self._buf[:n]
                if not piece:
                    break
            parts.append(piece)
            self._pos += len(piece)
            n -= len(piece)
        return b"".join(parts)

    def readinto(self, b) -> int:
        data = self.read(len(b))
        b[: len(data)] = data
        return len(data)


class GunzipReader:
    """Decompresses a gzip stream (several members allowed) under a Guard.

    Raw input is fetched CHUNK bytes at a time but fed to zlib in FEED_BYTES slices, and
    output is produced at most CHUNK bytes per call, so neither a bomb nor a big read makes
    a big allocation, and the ratio is checked every FEED_BYTES of input at the latest.
    """

    FEED_BYTES = 64 << 10

    def __init__(self, raw: BinaryIO, guard: Guard) -> None:
        self._raw, self._guard = raw, guard
        self._d = zlib.decompressobj(wbits=31)
        self._in = b""  # raw bytes not yet given to zlib
        self._in_at = 0
        self._out = b""  # decompressed bytes not yet returned
        self._out_at = 0
        self._done = False
        self.consumed = 0
        self.produced = 0

    def read(self, n: int = -1) -> bytes:
        n = CHUNK if n is None or n < 0 else n
        have = len(self._out) - self._out_at
        if have < n and not self._done:
            parts = [self._out[self._out_at :]]
            while have < n and not self._done:
                parts.append(self._inflate())
                have += len(parts[-1])
            self._out, self._out_at = b"".join(parts), 0
        data = self._out[self._out_at : self._out_at + n]
        self._out_at += len(data)
        return data

    def _input(self, size: int) -> bytes:
        """Up to size raw bytes not yet fed to zlib; b"" at the end of the stream."""
        if self._in_at >= len(self._in):
            self._in, self._in_at = self._raw.read(CHUNK), 0
        data = self._in[self._in_at : self._in_at + size]
        self._in_at += len(data)
        return data

    def _next_member(self) -> None:
        rest = self._d.unused_data
        while not (rest := rest.lstrip(b"\x00")):  # gzip allows zero padding at the end
            rest = self._input(CHUNK)
            if not rest:
                self._done = True
                return
        self._d = zlib.decompressobj(wbits=31)
        self._in, self._in_at = rest + self._in[self._in_at :], 0

    def _inflate(self) -> bytes:
        if self._d.eof:
            self._next_member()
            return b""
        data = self._d.unconsumed_tail or self._input(self.FEED_BYTES)
        if not data:
            out = self._d.decompress(b"", CHUNK)  # output zlib may still hold
            if not out and not self._d.eof:
                raise InvalidArchive(
                    "the tar.gz archive is corrupt or truncated (the gzip stream ends early)"
                )
        else:
            out = self._d.decompress(data, CHUNK)
            self.consumed += len(data) - len(self._d.unconsumed_tail) - len(self._d.unused_data)
        self.produced += len(out)
        self._guard.inflated(self.produced, self.consumed)
        return out

    def drain(self) -> None:
        """Read to the end, so the gzip CRC and length are checked (under the guard)."""
        while self.read(CHUNK):
            pass
