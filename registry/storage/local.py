"""Blobs in a local directory: `root/tmp/<uuid>` while written, `root/blobs/sha256/..` after."""

from __future__ import annotations

import contextlib
import errno
import os
import uuid
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import BinaryIO

from .base import (
    CHUNK_SIZE,
    BlobNotFound,
    DigestMismatch,
    HashingCounter,
    StorageError,
    StorageFull,
    StoredBlob,
    WrittenBlob,
    blob_key,
    verify_digest,
)

TMP_DIR = "tmp"


def _fsync_dir(path: Path) -> None:
    """Persist a directory entry (a rename or a new file) where the platform allows it."""
    try:
        fd = os.open(path, os.O_RDONLY | getattr(os, "O_DIRECTORY", 0))
    except OSError:
        return
    try:
        os.fsync(fd)
    except OSError:
        pass
    finally:
        os.close(fd)


class LocalBlobWriter:
    """Writes to `tmp/<uuid>`; promotion is a rename, so a promised digest is only checked."""

    def __init__(self, storage: LocalStorage, expected_sha256: str | None = None) -> None:
        self._storage = storage
        self._expected_sha256 = expected_sha256
        self.temp_key = f"{TMP_DIR}/{uuid.uuid4().hex}"
        self._path = storage._path(self.temp_key)
        self._path.parent.mkdir(parents=True, exist_ok=True)
        try:
            self._file: BinaryIO | None = open(self._path, "xb")  # noqa: SIM115
        except OSError as exc:
            raise write_error(self._path, exc) from exc
        self._hash = HashingCounter()
        self._result: WrittenBlob | None = None

    def write(self, chunk: bytes) -> None:
        if self._file is None:
            raise ValueError("write to a closed or aborted blob writer")
        try:
            self._file.write(chunk)
        except OSError as exc:
            self.abort()  # nothing half-written stays behind
            raise write_error(self._path, exc) from exc
        self._hash.update(chunk)

    def close(self) -> WrittenBlob:
        if self._result is not None:
            return self._result
        if self._file is None:
            raise ValueError("close of an aborted blob writer")
        f, self._file = self._file, None
        try:
            f.flush()
            os.fsync(f.fileno())
        except OSError as exc:
            with contextlib.suppress(OSError):
                f.close()
            self._remove()
            raise write_error(self._path, exc) from exc
        f.close()
        try:
            verify_digest(self._hash.hexdigest, self._expected_sha256)
        except DigestMismatch:
            self._remove()
            raise
        self._result = WrittenBlob(self.temp_key, self._hash.hexdigest, self._hash.size)
        return self._result

    def abort(self) -> None:
        if self._file is not None:
            f, self._file = self._file, None
            with contextlib.suppress(OSError):
                f.close()
        self._remove()

    def _remove(self) -> None:
        with contextlib.suppress(OSError):
            self._path.unlink(missing_ok=True)

    def __enter__(self) -> LocalBlobWriter:
        return self

    def __exit__(self, exc_type, exc, tb) -> None:
        if exc_type is not None:
            self.abort()


class LocalStorage:
    """The `Storage` protocol over a directory; promote is an atomic rename."""

    def __init__(self, root: Path | str) -> None:
        self.root = Path(root).expanduser().resolve()

    def __repr__(self) -> str:
        return f"LocalStorage({str(self.root)!r})"

    def _path(self, key: str) -> Path:
        """The file of `key`; refuses empty, absolute or escaping keys."""
        if not key or key.startswith("/") or "\\" in key or "\0" in key:
            raise ValueError(f"invalid storage key: {key!r}")
        parts = key.split("/")
        if any(p in ("", ".", "..") for p in parts):
            raise ValueError(f"invalid storage key: {key!r}")
        path = self.root.joinpath(*parts)
        # Guard against symlinked directories pointing elsewhere as well.
        if not path.resolve().is_relative_to(self.root):
            raise ValueError(f"storage key outside the root: {key!r}")
        return path

    def writer(self, expected_sha256: str | None = None) -> LocalBlobWriter:
        return LocalBlobWriter(self, expected_sha256)

    def promote(self, blob: WrittenBlob) -> str:
        key = blob_key(blob.sha256)
        src = self._path(blob.temp_key)
        dst = self._path(key)
        try:
            if self._refresh(dst):
                src.unlink(missing_ok=True)
                return key
            dst.parent.mkdir(parents=True, exist_ok=True)
            os.replace(src, dst)  # atomic; a concurrent promote of equal bytes is harmless
        except FileNotFoundError as exc:
            raise BlobNotFound(f"temporary blob {blob.temp_key} not found") from exc
        except OSError as exc:
            raise StorageError(f"cannot promote {blob.temp_key} to {key}: {exc}") from exc
        _fsync_dir(dst.parent)
        return key

    @staticmethod
    def _refresh(path: Path) -> bool:
        """Make a held object's modification time now; False if it is not there (any more)."""
        try:
            os.utime(path)
        except FileNotFoundError:
            return False
        return True

    def open(self, key: str) -> BinaryIO:
        path = self._path(key)
        try:
            return open(path, "rb")  # noqa: SIM115
        except (FileNotFoundError, IsADirectoryError, NotADirectoryError) as exc:
            raise BlobNotFound(f"no such object: {key}") from exc
        except OSError as exc:
            raise StorageError(f"cannot open {key}: {exc}") from exc

    def iter_bytes(self, key: str, start: int = 0, end: int | None = None) -> Iterator[bytes]:
        # Open eagerly so a missing key fails at call time, not at first iteration.
        f = self.open(key)
        return self._iter_file(f, start, end)

    @staticmethod
    def _iter_file(f: BinaryIO, start: int, end: int | None) -> Iterator[bytes]:
        with f:
            f.seek(start)
            remaining = None if end is None else end - start + 1
            while remaining is None or remaining > 0:
                n = CHUNK_SIZE if remaining is None else min(CHUNK_SIZE, remaining)
                chunk = f.read(n)
                if not chunk:
                    return
                if remaining is not None:
                    remaining -= len(chunk)
                yield chunk

    def exists(self, key: str) -> bool:
        return self._path(key).is_file()

    def delete(self, key: str) -> None:
        try:
            self._path(key).unlink(missing_ok=True)
        except OSError as exc:
            raise StorageError(f"cannot delete {key}: {exc}") from exc

    def keys(self, prefix: str = "") -> Iterator[str]:
        return (blob.key for blob in self.list_blobs(prefix))

    def list_blobs(self, prefix: str = "") -> Iterator[StoredBlob]:
        # Walk only the directory the prefix names (all of "blobs/sha256/ab" is in "blobs/").
        top = self.root
        directory = prefix.rpartition("/")[0]
        if directory:
            try:
                top = self._path(directory)
            except ValueError:
                return
        if not top.is_dir():
            return
        for dirpath, dirnames, filenames in os.walk(top):
            dirnames.sort()
            rel_dir = Path(dirpath).relative_to(self.root).as_posix()
            for name in sorted(filenames):
                key = name if rel_dir == "." else f"{rel_dir}/{name}"
                if not key.startswith(prefix):
                    continue
                try:
                    stat = os.stat(os.path.join(dirpath, name))
                except FileNotFoundError:  # removed since the walk saw it
                    continue
                yield StoredBlob(key, stat.st_size, modified_at(stat))

    def delete_stale(self, key: str, modified_before: datetime) -> bool:
        path = self._path(key)
        # Moved aside first, then judged: a promotion refreshing these bytes either came before
        # the move (the moved file is fresh, and goes back) or after it (and made a new file).
        aside = self._path(f"{TMP_DIR}/gc-{uuid.uuid4().hex}")
        try:
            aside.parent.mkdir(parents=True, exist_ok=True)
            os.replace(path, aside)
        except FileNotFoundError:
            return False
        except OSError as exc:
            raise StorageError(f"cannot delete {key}: {exc}") from exc
        try:
            # Compared as listed: a float round trip of the cutoff can land a hair past it.
            if modified_at(aside.stat()) >= modified_before:
                os.replace(aside, path)  # same bytes as any file promoted there meanwhile
                return False
            aside.unlink()
        except OSError as exc:
            raise StorageError(f"cannot delete {key}: {exc}") from exc
        return True

    def check(self) -> None:
        try:
            (self.root / TMP_DIR).mkdir(parents=True, exist_ok=True)
            probe = self.root / TMP_DIR / f".check-{uuid.uuid4().hex}"
            probe.write_bytes(b"ok")
            probe.unlink()
        except OSError as exc:
            raise StorageError(f"artifact directory {self.root} is not writable: {exc}") from exc


def modified_at(stat: os.stat_result) -> datetime:
    """A file's modification time as `list_blobs` reports it (to the microsecond, UTC)."""
    return datetime.fromtimestamp(stat.st_mtime, UTC)


def write_error(path: Path, exc: OSError) -> StorageError:
    if exc.errno == errno.ENOSPC:
        return StorageFull(f"the artifact directory is full writing {path.name}: {exc}")
    return StorageError(f"cannot write {path}: {exc}")
