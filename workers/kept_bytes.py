"""Verified copies of the bytes a worker read from storage, kept by sha256 in its scratch space.

The same bytes are often read by job after job: the targets of one upload, the profile of a
variant just made, an upload of bytes uploaded before. A job on bytes read before takes a
hard link to the kept copy instead of downloading them again, and hashes it first: bytes are
checked against their recorded sha256 whenever they are read back, from storage or from here.
"""

from __future__ import annotations

import contextlib
import hashlib
import logging
import os
import uuid
from pathlib import Path

from registry.db.models import Artifact
from registry.domain.catalog.artifacts import download_verified
from registry.storage import Storage

log = logging.getLogger(__name__)


class KeptBytes:
    """Copies kept in `directory` up to `limit_bytes` in all, the least recently used leaving
    first. Several worker processes may share the directory: copies enter it by an atomic
    rename and a job works on a link of its own, which a copy leaving does not remove."""

    def __init__(self, directory: Path, storage: Storage, limit_bytes: int) -> None:
        self.directory = directory
        self.storage = storage
        self.limit_bytes = limit_bytes

    def place(self, artifact: Artifact, destination: Path) -> None:
        """The artifact's bytes at `destination`, checked against its sha256."""
        if self._link_kept(artifact, destination):
            return
        download_verified(self.storage, artifact, destination)
        self.keep(artifact.sha256, destination)

    def _link_kept(self, artifact: Artifact, destination: Path) -> bool:
        kept = self.directory / artifact.sha256
        try:
            os.link(kept, destination)
        except OSError:  # not kept (or just left), or another file system
            return False
        if _sha256_of(destination) == artifact.sha256:
            with contextlib.suppress(OSError):
                os.utime(kept)  # recently used: the last to leave
            return True
        log.warning("the kept copy of %s does not match its sha256; reading it again", kept)
        destination.unlink()
        with contextlib.suppress(OSError):
            kept.unlink()
        return False

    def keep(self, sha256: str, path: Path) -> None:
        """Keep a copy of `path`, whose bytes hash to `sha256` (read or written just now)."""
        try:
            if not 0 < path.stat().st_size <= self.limit_bytes:
                return
            self.directory.mkdir(parents=True, exist_ok=True)
            entering = self.directory / f".{sha256}.{uuid.uuid4().hex}"
            os.link(path, entering)
            os.replace(entering, self.directory / sha256)
            self._shrink()
        except OSError as error:  # keeping a copy is an optimisation, never a job's failure
            log.warning("could not keep a copy of %s: %s", sha256, error)

    def _shrink(self) -> None:
        copies = []
        for entry in os.scandir(self.directory):
            with contextlib.suppress(OSError):
                stat = entry.stat()
                copies.append((stat.st_mtime, stat.st_size, entry.path))
        total = sum(size for _, size, _ in copies)
        for _, size, path in sorted(copies):
            if total <= self.limit_bytes:
                break
            with contextlib.suppress(OSError):
                os.unlink(path)
            total -= size


def _sha256_of(path: Path) -> str:
    with path.open("rb") as stream:
        return hashlib.file_digest(stream, "sha256").hexdigest()
