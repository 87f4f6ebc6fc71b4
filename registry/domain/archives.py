"""Safe extraction of uploaded archives, and deterministic packing of directories.

`extract_archive` is what the conversion worker uses to unpack a checked upload; it applies
every check of `archive_io` again (never trust that the API did) and writes only regular
files and directories, inside `dest`, never following or creating links. `pack_directory`
writes a byte-for-byte reproducible `.tar.gz` of a directory, streaming.
"""

from __future__ import annotations

import contextlib
import gzip
import os
import stat
import tarfile
from collections.abc import Callable
from pathlib import Path
from typing import BinaryIO

from registry.domain.archive_io import CHUNK, show
from registry.domain.archive_scan import archive_entries
from registry.domain.format_errors import ArchiveLimits, InvalidArchive

__all__ = ["extract_archive", "pack_directory"]

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


def _tar_info(name: str, st: os.stat_result | None) -> tarfile.TarInfo:
    info = tarfile.TarInfo(name)
    info.mtime, info.uid, info.gid, info.uname, info.gname = 0, 0, 0, "", ""
    if st is None:
        info.type, info.mode, info.size = tarfile.DIRTYPE, 0o755, 0
    else:
        info.type, info.mode, info.size = tarfile.REGTYPE, 0o644, st.st_size
    return info


def _add_tree(tar: tarfile.TarFile, directory: Path, prefix: str) -> None:
    for child in sorted(os.scandir(directory), key=lambda e: e.name):
        name = f"{prefix}{child.name}"
        st = os.lstat(child.path)
        if stat.S_ISDIR(st.st_mode):
            tar.addfile(_tar_info(name, None))
            _add_tree(tar, Path(child.path), name + "/")
        elif stat.S_ISREG(st.st_mode):
            with open(child.path, "rb") as f:
                tar.addfile(_tar_info(name, st), f)
        else:
            raise ValueError(f"cannot pack {child.path}: only files and directories are packed")


def pack_directory(src: Path, out: BinaryIO) -> None:
    """Write a deterministic `.tar.gz` of the contents of `src` to `out`, streaming.

    Entries are relative to `src` (no leading `./`), depth-first in sorted name order, with
    mtime 0, uid/gid 0, empty owner names, mode 0644 for files and 0755 for directories, in
    pax format; the gzip header has mtime 0 and no file name. The same tree therefore always
    gives the same bytes, whatever its timestamps or owner. Symlinks and special files are
    refused (ValueError). `out` is left open.
    """
    src = Path(src)
    if not src.is_dir():
        raise ValueError(f"not a directory: {src}")
    with (
        gzip.GzipFile(filename="", mode="wb", fileobj=out, mtime=0, compresslevel=6) as gz,
        tarfile.open(fileobj=gz, mode="w|", format=tarfile.PAX_FORMAT, bufsize=CHUNK) as tar,
    ):
        _add_tree(tar, src, "")
