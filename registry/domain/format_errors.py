"""Upload refusals and archive limits, shared by `formats` and `archives`.

This module exists only so that `formats` (detection) and `archives` (safe reading) can both
use these classes without importing each other; import them from `registry.domain.formats`.
Every refusal carries an HTTP `status`, a short `title`, and, as `str(e)`, a detail a person
can act on that names the archive entry or the limit at fault.
"""

from __future__ import annotations

from dataclasses import dataclass

from registry.domain.errors import RegistryError


class UploadRejected(RegistryError):
    """Base of every refusal of an upload; `str(e)` is the detail for a person."""

    status = 422
    title = "Upload rejected"

    def __init__(self, detail: str) -> None:
        super().__init__(detail)
        self.detail = detail


class UnsupportedFormat(UploadRejected):
    """Not a format the registry accepts, or not the format that was declared."""

    status = 415
    title = "Unsupported upload format"


class InvalidArchive(UploadRejected):
    """Unsafe or corrupt archive: traversal, absolute path, link, device, bad or truncated data."""

    status = 422
    title = "Invalid archive"


class ArchiveTooLarge(UploadRejected):
    """An archive over a bomb limit: entry count, unpacked size or compression ratio."""

    status = 413
    title = "Archive too large"


class IncompleteCheckpoint(UploadRejected):
    """A TF1 checkpoint missing its .meta, .index or a data shard, or an ambiguous prefix."""

    status = 422
    title = "Incomplete checkpoint"


class ObjectCheckpointRejected(UploadRejected):
    """A TF2 object-based checkpoint: variable values without a graph."""

    status = 422
    title = "Object-based checkpoint not supported"


@dataclass(frozen=True)
class ArchiveLimits:
    """Bomb limits applied to every archive (`REGISTRY_MAX_*` settings)."""

    max_entries: int
    max_unpacked_bytes: int
    max_compression_ratio: int

    @classmethod
    def from_settings(cls, settings) -> ArchiveLimits:
        """The limits configured in a `registry.settings.Settings`."""
        return cls(
            max_entries=settings.max_archive_entries,
            max_unpacked_bytes=settings.max_unpacked_bytes,
            max_compression_ratio=settings.max_compression_ratio,
        )


def human_bytes(n: int) -> str:
    """`1073741824` -> `'1 GiB'`, `1536` -> `'1.5 KiB'`."""
    for unit, size in (("TiB", 1 << 40), ("GiB", 1 << 30), ("MiB", 1 << 20), ("KiB", 1 << 10)):
        if n >= size:
            value = n / size
            return f"{value:.0f} {unit}" if n % size == 0 else f"{value:.1f} {unit}"
    return f"{n} bytes"
