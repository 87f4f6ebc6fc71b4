"""Small upload payloads built in the test, without TensorFlow."""

from __future__ import annotations

import io
import os
import tarfile
import zipfile
from pathlib import Path


def fake_tflite(path: Path, size: int = 4096) -> Path:
    """Bytes that carry the TFLite file identifier: enough for the API's format detection."""
    path.write_bytes(b"\x1c\x00\x00\x00TFL3" + os.urandom(size - 8))
    return path


def tar_gz(
    path: Path, members: dict[str, bytes], *, symlinks: dict[str, str] | None = None
) -> Path:
    with tarfile.open(path, "w:gz") as archive:
        for name, data in members.items():
            info = tarfile.TarInfo(name)
            info.size = len(data)
            archive.addfile(info, io.BytesIO(data))
        for name, target in (symlinks or {}).items():
            info = tarfile.TarInfo(name)
            info.type = tarfile.SYMTYPE
            info.linkname = target
            archive.addfile(info)
    return path


def zip_file(path: Path, members: dict[str, bytes]) -> Path:
    with zipfile.ZipFile(path, "w", zipfile.ZIP_DEFLATED) as archive:
        for name, data in members.items():
            archive.writestr(name, data)
    return path
