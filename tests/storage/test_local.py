"""LocalStorage specifics: atomic rename, confinement to the root."""

from __future__ import annotations

import os

import pytest

from registry.storage import LocalStorage, StorageError, blob_key


def test_promote_moves_the_file_under_its_content_key(tmp_path):
    storage = LocalStorage(tmp_path)
    writer = storage.writer()
    writer.write(b"bytes")
    blob = writer.close()
    temp_path = tmp_path / blob.temp_key

    key = storage.promote(blob)

    assert not temp_path.exists()
    assert (tmp_path / key).read_bytes() == b"bytes"
    assert key == blob_key(blob.sha256)


def test_keys_that_leave_the_root_are_refused(tmp_path):
    storage = LocalStorage(tmp_path / "root")
    (tmp_path / "secret").write_bytes(b"outside")

    for key in ["../secret", "/etc/passwd", "tmp/../../secret", "", "a//b", "./x", "a\\..\\b"]:
        with pytest.raises(ValueError):
            storage.open(key)


def test_symlinked_directory_out_of_the_root_is_refused(tmp_path):
    (tmp_path / "outside").mkdir()
    (tmp_path / "outside" / "f").write_bytes(b"x")
    root = tmp_path / "root"
    root.mkdir()
    os.symlink(tmp_path / "outside", root / "tmp")

    with pytest.raises(ValueError, match="outside"):
        LocalStorage(root).open("tmp/f")


def test_check_fails_when_the_root_is_not_a_directory(tmp_path):
    (tmp_path / "file").write_bytes(b"")

    with pytest.raises(StorageError, match="not writable"):
        LocalStorage(tmp_path / "file").check()
