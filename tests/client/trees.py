"""Model-like directories written in a test, without TensorFlow."""

from __future__ import annotations

import os
from pathlib import Path


def savedmodel_tree(directory: Path, weights_bytes: int = 300_000) -> Path:
    """A directory laid out like a SavedModel (enough for upload detection, not for TF)."""
    (directory / "variables").mkdir(parents=True)
    (directory / "assets").mkdir()
    (directory / "saved_model.pb").write_bytes(b"\x08\x01" + os.urandom(2000))
    (directory / "variables" / "variables.index").write_bytes(os.urandom(300))
    (directory / "variables" / "variables.data-00000-of-00001").write_bytes(
        os.urandom(weights_bytes)
    )
    (directory / "assets" / "vocab.txt").write_text("a\nb\n")
    return directory


def files_under(directory: Path) -> dict[str, bytes]:
    return {
        str(p.relative_to(directory)): p.read_bytes()
        for p in sorted(directory.rglob("*"))
        if p.is_file()
    }
