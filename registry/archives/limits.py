"""Archive bomb limits, and byte counts as people read them."""

from __future__ import annotations

from dataclasses import dataclass


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
