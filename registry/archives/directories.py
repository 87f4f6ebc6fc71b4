"""Safe extraction of uploaded archives, and deterministic packing of directories.

`extract_archive` is what the conversion worker uses to unpack a checked upload; it applies
every check of `archive_io` again (never trust that the API did) and writes only regular
files and directories, inside `dest`, never following or creating links. `pack_directory`
writes a byte-for-byte reproducible `.tar.gz` of a directory, streaming, with the writer
(`deterministic_tar_gz`, `tar_entry`) that other packers share.
"""

from __future__ import annotations

import contextlib
import os
import stat
import tarfile
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import BinaryIO

from registry.archives.entries import archive_entries
from registry.archives.gzip_writer import AdaptiveGzipWriter
from registry.archives.limits import ArchiveLimits
from registry.archives.reading import show
from registry.errors import InvalidArchive

__all__ = ["deterministic_tar_gz", "extract_archive", "pack_directory", "tar_entry"]

_O_NOFOLLOW = getattr(os, "O_NOFOLLOW", 0)
_O_CLOEXEC = getattr(os, "O_CLOEXEC", 0)


def _make_dirs(root: Path, parts: list[str], entry: str, created: list[Path]) -> Path:
    """Create root/parts... one level at a time, refusing anything that is not a real dir."""
    path = root
    for part in parts:
        path = path / part
        try:
            st = path.lstat()
        except FileNotFoundError:
            path.mkdir(mode=0o755)
            created.append(path)
            continue
        if not stat.S_ISDIR(st.st_mode):  # a file, or a link that someone else put there
            raise InvalidArchive(
                f"archive entry '{show(entry)}' needs '{show('/'.join(parts))}' to be a "
                "directory, but it is not"
            )
    return path


def _remove(created: list[Path]) -> None:
    for path in reversed(created):
        with contextlib.suppress(OSError):
            if path.is_dir() and not path.is_symlink():
                path.rmdir()
            else:
                path.unlink()


def extract_archive(
    open_stream: Callable[[], BinaryIO], packaging: str, dest: Path, limits: ArchiveLimits
) -> None:
    """Unpack a tar.gz or zip upload into `dest` (created if missing), checking every entry.

    Only regular files (mode 0644) and directories (0755) are written; no link is ever
    followed or created, no existing file is overwritten, and nothing lands outside `dest`.
    Raises InvalidArchive / ArchiveTooLarge like detection does. A zip is checked completely
    before the first byte is written; a tar.gz is checked as it streams, so on a refusal
    everything written so far is removed again (what was in `dest` before is left alone).
    """
    dest = Path(dest)
    dest.mkdir(parents=True, exist_ok=True)
    root = dest.resolve()
    created: list[Path] = []
    try:
        with archive_entries(open_stream, packaging, limits) as entries:
            for entry in entries:
                parts = entry.name.split("/")
                if entry.is_dir:
                    _make_dirs(root, parts, entry.name, created)
                    continue
                parent = _make_dirs(root, parts[:-1], entry.name, created)
                target = parent / parts[-1]
                flags = os.O_WRONLY | os.O_CREAT | os.O_EXCL | _O_NOFOLLOW | _O_CLOEXEC
                try:
                    fd = os.open(target, flags, 0o644)
                except FileExistsError:
                    raise InvalidArchive(
                        f"archive entry '{show(entry.name)}' would overwrite an existing file"
                    ) from None
                created.append(target)
                with os.fdopen(fd, "wb") as out:
                    for chunk in entry.chunks():
                        out.write(chunk)
    except BaseException:
        _remove(created)
        raise


def tar_entry(name: str, size: int | None) -> tarfile.TarInfo:
    """The normalised header of a packed entry: a directory when `size` is None, else a file.

    mtime 0, uid/gid 0, no owner names, mode 0755 for directories and 0644 for files.
    """
    info = tarfile.TarInfo(name)
    info.mtime, info.uid, info.gid, info.uname, info.gname = 0, 0, 0, "", ""
    if size is None:
        info.type, info.mode, info.size = tarfile.DIRTYPE, 0o755, 0
    else:
        info.type, info.mode, info.size = tarfile.REGTYPE, 0o644, size
    return info


class _Severable:
    """Passes writes on to `out` until severed, then drops them."""

    def __init__(self, out: BinaryIO) -> None:
        self._out, self.severed = out, False

    def write(self, data) -> int:
        return len(data) if self.severed else self._out.write(data)

    def flush(self) -> None:
        if not self.severed and hasattr(self._out, "flush"):
            self._out.flush()


@contextlib.contextmanager
def deterministic_tar_gz(out: BinaryIO) -> Iterator[tarfile.TarFile]:
    """A stream-mode pax tar writer onto a gzip stream (mtime 0, no file name) over `out`.

    With `tar_entry` headers, the same entries in the same order always give the same bytes.
    The gzip stream spends on each part what compressing it saves (`AdaptiveGzipWriter`:
    float weights are run-length coded, random bytes stored, text deflated at level 6).
    `out` is only written to, never seeked, and left open. If the body of the `with` fails,
    the stream is left unfinished (no end-of-archive blocks, no gzip trailer), so a reader
    sees a truncated archive rather than a shorter one that looks whole.
    """
    sink = _Severable(out)
    gz = AdaptiveGzipWriter(sink)
    # Small blocks: tarfile's stream buffer copies itself on every write it takes.
    with tarfile.open(
        fileobj=gz, mode="w|", format=tarfile.PAX_FORMAT, bufsize=tarfile.RECORDSIZE
    ) as tar:
        try:
            yield tar
        except BaseException:
            sink.severed = True
            raise
    gz.close()


class _CountingReader:
    """A file read through, telling `count` how many bytes each read returned."""

    def __init__(self, raw: BinaryIO, count: Callable[[int], None]) -> None:
        self._raw, self._count = raw, count

    def read(self, n: int = -1) -> bytes:
        data = self._raw.read(n)
        self._count(len(data))
        return data


def _add_tree(
    tar: tarfile.TarFile, directory: Path, prefix: str, count: Callable[[int], None] | None
) -> None:
    for child in sorted(os.scandir(directory), key=lambda e: e.name):
        name = f"{prefix}{child.name}"
        st = os.lstat(child.path)
        if stat.S_ISDIR(st.st_mode):
            tar.addfile(tar_entry(name, None))
            _add_tree(tar, Path(child.path), name + "/", count)
        elif stat.S_ISREG(st.st_mode):
            with open(child.path, "rb") as f:
                tar.addfile(tar_entry(name, st.st_size), _CountingReader(f, count) if count else f)
        else:
            raise ValueError(f"cannot pack {child.path}: only files and directories are packed")


def pack_directory(
    src: Path, out: BinaryIO, *, on_bytes_read: Callable[[int], None] | None = None
) -> None:
    """Write a deterministic `.tar.gz` of the contents of `src` to `out`, streaming.

    Entries are relative to `src` (no leading `./`), depth-first in sorted name order, with
    mtime 0, uid/gid 0, empty owner names, mode 0644 for files and 0755 for directories, in
    pax format; the gzip header has mtime 0 and no file name. The same tree therefore always
    gives the same bytes, whatever its timestamps or owner. Symlinks and special files are
    refused (ValueError). `out` is left open. `on_bytes_read(n)` is told of every read of
    the files' contents (for progress: the files' total size is known up front, the packed
    size is not).
    """
    src = Path(src)
    if not src.is_dir():
        raise ValueError(f"not a directory: {src}")
    with deterministic_tar_gz(out) as tar:
        _add_tree(tar, src, "", on_bytes_read)
