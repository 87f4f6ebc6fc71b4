"""Checked iteration over the entries of a tar.gz or zip upload, and listing for detection.

Every entry is checked before anything in the archive is trusted:

- its name (`archive_io.safe_member_name`);
- its type: only regular files and directories; symlinks, hard links, devices, FIFOs,
  sockets, sparse files and unknown tar types are refused (zip: by the Unix file type in
  `external_attr`);
- the bomb limits: entry count; total unpacked size (zip: the declared sizes in the central
  directory, enforced again by zipfile while reading; tar: member sizes as the headers stream
  by, plus the whole decompressed stream as a backstop); compression ratio (zip: per entry
  and overall against the archive's size, before anything is inflated; tar.gz: decompressed
  against compressed bytes consumed so far, on every read);
- zip only: no encryption, `stored` or `deflate` compression only;
- the layout: no duplicate file names, no name that is both a file and a directory.

Damaged tar headers are refused (tarfile alone would take one as the end of the archive),
and so are GNU long-name and pax headers over MAX_TAR_HEADER_BYTES (tarfile reads them
into memory).
"""

from __future__ import annotations

import stat
import tarfile
import zipfile
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import BinaryIO

from registry.archives.limits import ArchiveLimits, human_bytes
from registry.archives.reading import (
    CHUNK,
    ENTRIES_LIMIT,
    RATIO_FLOOR_BYTES,
    RATIO_LIMIT,
    Guard,
    GunzipReader,
    ReadAhead,
    corrupt_as_invalid,
    safe_member_name,
    show,
)
from registry.errors import ArchiveTooLarge, InvalidArchive

# GNU long-name and pax extended headers are read into memory by tarfile: bound them.
MAX_TAR_HEADER_BYTES = 1 << 20
ZIP_METHODS = {zipfile.ZIP_STORED: "stored", zipfile.ZIP_DEFLATED: "deflate"}


def _refuse_type(raw: str, what: str) -> InvalidArchive:
    plural = {"symlink": "symlinks", "hard link": "hard links"}.get(what)
    if plural:
        return InvalidArchive(f"archive entry '{show(raw)}' is a {what}; {plural} are not accepted")
    return InvalidArchive(
        f"archive entry '{show(raw)}' is a {what}; only regular files and directories are accepted"
    )


class _SafeTarInfo(tarfile.TarInfo):
    """Refuses oversized extended headers and damaged headers instead of stopping silently."""

    @classmethod
    def frombuf(cls, buf, encoding, errors):
        try:
            return super().frombuf(buf, encoding, errors)
        except (tarfile.TruncatedHeaderError, tarfile.InvalidHeaderError) as e:
            raise InvalidArchive(f"the tar.gz archive is corrupt or truncated ({e})") from e

    def _proc_member(self, tarfile_):
        extended = (tarfile.GNUTYPE_LONGNAME, tarfile.GNUTYPE_LONGLINK, tarfile.XHDTYPE)
        if self.type in (*extended, tarfile.XGLTYPE, tarfile.SOLARIS_XHDTYPE) and not (
            0 <= self.size <= MAX_TAR_HEADER_BYTES
        ):
            raise InvalidArchive(
                f"the tar.gz archive has an extended header of {self.size} bytes "
                f"(at most {human_bytes(MAX_TAR_HEADER_BYTES)} accepted)"
            )
        return super()._proc_member(tarfile_)


_TAR_TYPES = {
    tarfile.SYMTYPE: "symlink",
    tarfile.LNKTYPE: "hard link",
    tarfile.CHRTYPE: "character device",
    tarfile.BLKTYPE: "block device",
    tarfile.FIFOTYPE: "FIFO",
    tarfile.GNUTYPE_SPARSE: "sparse file",
}
_TAR_FILE_TYPES = (tarfile.REGTYPE, tarfile.AREGTYPE, tarfile.CONTTYPE)
_ZIP_TYPES = {
    stat.S_IFLNK: "symlink",
    stat.S_IFCHR: "character device",
    stat.S_IFBLK: "block device",
    stat.S_IFIFO: "FIFO",
    stat.S_IFSOCK: "socket",
}


@dataclass
class Entry:
    """One checked archive entry; `chunks()` yields a regular file's bytes (under the guards)."""

    name: str
    is_dir: bool
    size: int
    _chunks: Callable[[], Iterator[bytes]] | None = field(default=None, repr=False)

    def chunks(self) -> Iterator[bytes]:
        return iter(()) if self._chunks is None else self._chunks()


def _file_chunks(f: BinaryIO, kind: str) -> Iterator[bytes]:
    while True:
        with corrupt_as_invalid(kind):
            data = f.read(CHUNK)
        if not data:
            return
        yield data


def _tar_entries(raw: BinaryIO, limits: ArchiveLimits) -> Iterator[Entry]:
    guard = Guard(limits)
    gz = GunzipReader(raw, guard)
    with corrupt_as_invalid("tar.gz"):
        # Nothing to close: a stream-mode reader over a file object it did not open.
        tar = tarfile.open(fileobj=gz, mode="r|", tarinfo=_SafeTarInfo, bufsize=CHUNK)  # noqa: SIM115
    while True:
        with corrupt_as_invalid("tar.gz"):
            info = tar.next()
        if info is None:
            break
        guard.entry(info.name)
        name = safe_member_name(info.name)
        if info.type in _TAR_TYPES:
            raise _refuse_type(info.name, _TAR_TYPES[info.type])
        if info.type == tarfile.DIRTYPE:
            if name:
                yield Entry(name, True, 0)
            continue
        if info.type not in _TAR_FILE_TYPES:
            raise _refuse_type(info.name, f"tar entry of unknown type {info.type!r}")
        if not name:
            raise InvalidArchive(f"archive entry '{show(info.name)}' is a file with no name")
        if info.size < 0:
            raise InvalidArchive(f"archive entry '{show(info.name)}' has a negative size")
        guard.declare(info.name, info.size)
        with corrupt_as_invalid("tar.gz"):
            f = tar.extractfile(info)
        yield Entry(name, False, info.size, lambda f=f: _file_chunks(f, "tar.gz"))
        for _ in _file_chunks(f, "tar.gz"):  # whatever the caller left unread
            pass
    with corrupt_as_invalid("tar.gz"):
        gz.drain()


def _check_zip(zf: zipfile.ZipFile, archive_size: int, limits: ArchiveLimits) -> list[Entry]:
    """Every check that the central directory allows, before any member is read."""
    infos = zf.infolist()
    if len(infos) > limits.max_entries:
        raise ArchiveTooLarge(
            f"archive has more than {limits.max_entries} entries (limit {ENTRIES_LIMIT})"
        )
    guard, ratio, entries = Guard(limits), limits.max_compression_ratio, []
    for info in infos:
        raw = info.orig_filename
        name = safe_member_name(raw)
        kind = stat.S_IFMT(info.external_attr >> 16)
        if kind in _ZIP_TYPES:
            raise _refuse_type(raw, _ZIP_TYPES[kind])
        if kind not in (0, stat.S_IFREG, stat.S_IFDIR):
            raise _refuse_type(raw, f"zip entry of unknown type {kind:#o}")
        if info.is_dir() or kind == stat.S_IFDIR:
            if name:
                entries.append(Entry(name, True, 0))
            continue
        if not name:
            raise InvalidArchive(f"archive entry '{show(raw)}' is a file with no name")
        if info.flag_bits & 0x1:
            raise InvalidArchive(f"archive entry '{show(raw)}' is encrypted")
        if info.compress_type not in ZIP_METHODS:
            raise InvalidArchive(
                f"archive entry '{show(raw)}' uses compression method {info.compress_type}; "
                "only stored and deflate are accepted"
            )
        size = info.file_size
        if size > RATIO_FLOOR_BYTES and size > ratio * max(info.compress_size, 1):
            raise ArchiveTooLarge(
                f"archive entry '{show(raw)}' expands {size // max(info.compress_size, 1)} times "
                f"({human_bytes(info.compress_size)} to {human_bytes(size)}), more than "
                f"{ratio} (limit {RATIO_LIMIT}); it looks like a zip bomb"
            )
        guard.declare(raw, size)

        def chunks(info=info) -> Iterator[bytes]:
            with corrupt_as_invalid("zip"):
                f = zf.open(info)
            with f:
                yield from _file_chunks(f, "zip")

        entries.append(Entry(name, False, size, chunks))
    if guard.declared > RATIO_FLOOR_BYTES and guard.declared > ratio * max(archive_size, 1):
        raise ArchiveTooLarge(
            f"archive expands more than {ratio} times its size ({human_bytes(archive_size)} "
            f"to {human_bytes(guard.declared)}; limit {RATIO_LIMIT}); it looks like a zip bomb"
        )
    return entries


def _open_zip(reader: ReadAhead, limits: ArchiveLimits) -> zipfile.ZipFile:
    # zipfile reads the whole central directory in one go: look at the end record first,
    # with zipfile's own reader of it (a private helper, there since Python 2).
    end_record = getattr(zipfile, "_EndRecData", None)
    with corrupt_as_invalid("zip"):
        end = end_record(reader) if end_record else None
        if end_record and end is None:
            raise InvalidArchive("the zip archive is corrupt or truncated (no end record)")
        if end and end[zipfile._ECD_ENTRIES_TOTAL] > limits.max_entries:
            raise ArchiveTooLarge(
                f"archive has more than {limits.max_entries} entries (limit {ENTRIES_LIMIT})"
            )
        if end and end[zipfile._ECD_SIZE] > 4096 * (limits.max_entries + 16):
            raise InvalidArchive("the zip archive is corrupt (its central directory is too big)")
        reader.seek(0)
        return zipfile.ZipFile(reader)


def check_layout(entries: list[Entry]) -> None:
    """No duplicate file names, and no file where another entry needs a directory."""
    files, dirs = set(), set()
    for e in entries:
        if e.is_dir:
            dirs.add(e.name)
            continue
        if e.name in files:
            raise InvalidArchive(f"archive entry '{show(e.name)}' appears more than once")
        files.add(e.name)
        parts = e.name.split("/")
        dirs.update("/".join(parts[:i]) for i in range(1, len(parts)))
    clash = sorted(files & dirs)
    if clash:
        raise InvalidArchive(f"archive entry '{show(clash[0])}' is both a file and a directory")


@contextmanager
def archive_entries(
    open_stream: Callable[[], BinaryIO], packaging: str, limits: ArchiveLimits
) -> Iterator[Iterator[Entry]]:
    """The checked entries of an archive, in archive order.

    zip: every entry is checked (from the central directory) before the first is yielded.
    tar.gz: entries are checked as they stream by; the iterator must be consumed to the end
    for the last checks (gzip trailer) to run. Reading an entry's chunks is optional.
    """
    if packaging not in ("tar.gz", "zip"):
        raise ValueError(f"not an archive packaging: {packaging!r}")
    raw = open_stream()
    try:
        if packaging == "tar.gz":
            yield _tar_entries(raw, limits)
        else:
            reader = ReadAhead(raw)
            zf = _open_zip(reader, limits)
            with zf:
                entries = _check_zip(zf, reader.size(), limits)
                check_layout(entries)
                yield iter(entries)
    finally:
        raw.close()


@dataclass(frozen=True)
class MemberProbe:
    """The first bytes of a member, and whether a needle occurs anywhere in it."""

    head: bytes
    contains_needle: bool


def probe_chunks(chunks: Iterator[bytes], head_bytes: int, needle: bytes) -> MemberProbe:
    head, found, tail = b"", False, b""
    for data in chunks:
        if len(head) < head_bytes:
            head += data[: head_bytes - len(head)]
        if needle and not found:
            found = needle in tail + data
            tail = (tail + data)[-(len(needle) - 1) :] if len(needle) > 1 else b""
    return MemberProbe(head, found)


class ArchiveScan:
    """The checked listing of an archive, and probes of chosen members."""

    def __init__(self, files: tuple[str, ...], dirs: tuple[str, ...], probe) -> None:
        self.files, self.dirs, self._probe = files, dirs, probe

    def probe(self, name: str) -> MemberProbe:
        return self._probe(name)


@contextmanager
def scan_archive(
    open_stream: Callable[[], BinaryIO],
    packaging: str,
    limits: ArchiveLimits,
    *,
    head_bytes: Callable[[str], int],
    needle: bytes = b"",
) -> Iterator[ArchiveScan]:
    """Check every entry and list the regular files and directories.

    `head_bytes(name)` says how much of a member's head `probe(name)` must return (0: never
    probed). A tar.gz is streamed through once, so those members are probed on the way; a zip
    member is only read when it is probed.
    """
    with archive_entries(open_stream, packaging, limits) as entries:
        seen, probes = [], {}
        for e in entries:
            seen.append(e)
            want = 0 if e.is_dir else head_bytes(e.name)
            if packaging == "tar.gz" and want:
                probes[e.name] = probe_chunks(e.chunks(), want, needle)
        check_layout(seen)
        by_name = {e.name: e for e in seen if not e.is_dir}

        def probe(name: str) -> MemberProbe:
            if name not in probes:
                if packaging == "tar.gz" or name not in by_name:
                    raise KeyError(name)
                probes[name] = probe_chunks(by_name[name].chunks(), head_bytes(name), needle)
            return probes[name]

        files = tuple(sorted(by_name))
        dirs = tuple(sorted({e.name for e in seen if e.is_dir}))
        yield ArchiveScan(files, dirs, probe)
