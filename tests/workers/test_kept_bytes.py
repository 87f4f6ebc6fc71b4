"""A worker's kept copies of bytes it read: used again only while they hash to their sha256."""

from __future__ import annotations

import hashlib

import pytest

from registry.db.models import Artifact
from registry.storage import BlobNotFound, LocalStorage
from workers.kept_bytes import KeptBytes


def stored(storage: LocalStorage, data: bytes) -> Artifact:
    writer = storage.writer()
    writer.write(data)
    blob = writer.close()
    key = storage.promote(blob)
    return Artifact(sha256=hashlib.sha256(data).hexdigest(), size=len(data), storage_key=key)


def test_bytes_read_once_are_placed_again_from_the_kept_copy_while_it_hashes_right(tmp_path):
    storage = LocalStorage(tmp_path / "store")
    artifact = stored(storage, b"model bytes")
    cache = KeptBytes(tmp_path / "kept", storage, limit_bytes=1024)
    cache.place(artifact, tmp_path / "first")
    storage.delete(artifact.storage_key)

    cache.place(artifact, tmp_path / "second")  # storage no longer has them
    placed_again = (tmp_path / "second").read_bytes()
    kept = tmp_path / "kept" / artifact.sha256
    kept.write_bytes(b"model bytez")  # the kept copy altered behind the worker's back

    with pytest.raises(BlobNotFound):
        cache.place(artifact, tmp_path / "third")
    assert placed_again == b"model bytes"
    assert not (tmp_path / "third").exists()
    assert not kept.exists()


def test_copies_beyond_the_limit_leave_least_recently_used_first(tmp_path):
    storage = LocalStorage(tmp_path / "store")
    first, second, third = (stored(storage, bytes([n]) * 100) for n in range(3))
    cache = KeptBytes(tmp_path / "kept", storage, limit_bytes=250)

    for number, artifact in enumerate((first, second, first, third)):
        cache.place(artifact, tmp_path / f"placed-{number}")

    kept = {path.name for path in (tmp_path / "kept").iterdir()}
    assert kept == {first.sha256, third.sha256}
