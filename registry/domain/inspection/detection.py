"""Deciding what an upload is, and cheap checks of it, without TensorFlow.

`detect_upload` looks at an uploaded file or archive as stored (through `open_stream`) and
says which of FILE_KINDS it is, how it is packed, where the model sits inside an archive and
which checkpoint prefix to restore. It reads little: the head of a single file; a zip's
central directory plus, for checkpoints, the chosen `.index` and the `checkpoint` state file;
a tar.gz once, streaming. Refusals are UploadRejected subclasses whose message names the
entry, file or limit at fault. The conversion worker does the expensive validation.
"""

from __future__ import annotations

import posixpath
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import BinaryIO

from registry.archives.entries import ArchiveScan, scan_archive
from registry.archives.limits import ArchiveLimits
from registry.archives.reading import read_full, show
from registry.domain.inspection.checkpoints import (
    OBJECT_GRAPH_KEY,
    detect_checkpoint,
    parse_bundle_num_shards,
    parse_checkpoint_state,
)
from registry.errors import (
    ArchiveTooLarge,
    IncompleteCheckpoint,
    InvalidArchive,
    ObjectCheckpointRejected,
    UnsupportedFormat,
    UploadRejected,
)
from registry.vocabulary import MODEL_CARD_MAX_BYTES, MODEL_CARD_MEMBER

__all__ = [
    "FILE_KINDS",
    "ArchiveLimits",
    "ArchiveTooLarge",
    "DetectedUpload",
    "IncompleteCheckpoint",
    "InvalidArchive",
    "ObjectCheckpointRejected",
    "UnsupportedFormat",
    "UploadRejected",
    "detect_upload",
    "parse_bundle_num_shards",
    "parse_checkpoint_state",
    "sniff_packaging",
]

FILE_KINDS = ("checkpoint", "keras", "savedmodel", "frozen_pb", "tflite")
PACKAGINGS = ("file", "tar.gz", "zip")

HDF5_MAGIC = b"\x89HDF\r\n\x1a\n"
GZIP_MAGIC = b"\x1f\x8b"
ZIP_MAGICS = (b"PK\x03\x04", b"PK\x05\x06")  # a local file header; an empty zip's end record
TFLITE_IDENTIFIER = b"TFL3"
HEAD_BYTES = 4096
INDEX_HEAD_BYTES = 1024  # the bundle header is the first entry of the first block
STATE_HEAD_BYTES = 8192
# The first byte of a GraphDef: a tag of field 1 node, 2 library, 3 version, 4 versions or
# 5 debug_info. A SavedModel proto starts with field 1 saved_model_schema_version (0x08).
GRAPHDEF_FIRST_BYTES = frozenset(b"\x0a\x12\x18\x22\x2a")
SAVED_MODEL_FIRST_BYTE = 0x08

_SUPPORTED = (
    "a .tar.gz/.tgz or .zip archive of a TF1 checkpoint (.meta, .index, .data-*) or of a "
    "SavedModel directory, or a single .keras, .h5, .pb (frozen GraphDef) or .tflite file"
)
_SAVED_MODEL_FILES = ("saved_model.pb", "saved_model.pbtxt")
_MODEL_FILE_SUFFIXES = (".keras", ".h5", ".hdf5", ".pb", ".tflite")


@dataclass(frozen=True)
class DetectedUpload:
    """What an upload is: its kind, how it is packed, and where the model sits inside."""

    kind: str  # one of FILE_KINDS
    packaging: str  # "file" | "tar.gz" | "zip"
    root: str  # for archives: the member directory holding the model ("" = top level)
    checkpoint_prefix: str | None  # e.g. "model.ckpt-1000", relative to root
    members: tuple[str, ...] = field(default=())  # archives: regular-file members, sorted
    # A SavedModel's assets.extra/README.md, when it has one within MODEL_CARD_MAX_BYTES.
    model_card: str | None = None


def sniff_packaging(head: bytes, filename: str) -> str:
    """The packaging from the first bytes: gzip magic -> "tar.gz", zip magic -> "zip", else
    "file". The bytes decide, not the name (`filename` only serves the messages of
    `detect_upload`). A `.keras` file is a zip: `detect_upload` tells it by its members."""
    if head.startswith(GZIP_MAGIC):
        return "tar.gz"
    if head.startswith(ZIP_MAGICS):
        return "zip"
    return "file"


def detect_upload(
    open_stream: Callable[[], BinaryIO],
    filename: str,
    declared_format: str,
    limits: ArchiveLimits,
) -> DetectedUpload:
    """Decide an upload's kind and packaging and run the cheap checks of that kind.

    `declared_format` is "auto" or one of FILE_KINDS; a declared kind is trusted for the kind
    but the archive checks and that kind's checks still run, and content that contradicts it
    is refused (UnsupportedFormat). `open_stream()` must give a fresh seekable binary stream.
    """
    if declared_format not in ("auto", *FILE_KINDS):
        raise UploadRejected(
            f"unknown format '{show(declared_format)}'; use auto or one of {', '.join(FILE_KINDS)}"
        )
    stream = open_stream()
    try:
        head = read_full(stream, HEAD_BYTES)
    finally:
        stream.close()
    packaging = sniff_packaging(head, filename)
    if packaging == "file":
        return _detect_file(head, filename, declared_format)
    if declared_format in ("tflite", "frozen_pb") or (
        declared_format == "keras" and packaging != "zip"
    ):
        raise UnsupportedFormat(
            f"format '{declared_format}' is a single file, but '{show(filename)}' is a "
            f"{packaging} archive; upload the model file itself"
        )
    with scan_archive(
        open_stream, packaging, limits, head_bytes=_probe_size, needle=OBJECT_GRAPH_KEY
    ) as scan:
        if packaging == "zip" and _is_keras_zip(scan):
            if declared_format not in ("auto", "keras"):
                raise UnsupportedFormat(
                    f"format '{declared_format}' was declared, but '{show(filename)}' is a "
                    "Keras .keras file (config.json and model.weights.h5); declare keras or auto"
                )
            return DetectedUpload("keras", "file", "", None, ())
        if declared_format == "keras":
            raise UnsupportedFormat(
                f"format 'keras' was declared, but '{show(filename)}' is a zip archive, not a "
                ".keras file (no config.json with model.weights.h5 or metadata.json at its top)"
            )
        return _detect_archive(scan, packaging, declared_format)


def _probe_size(name: str) -> int:
    if name == MODEL_CARD_MEMBER or name.endswith(f"/{MODEL_CARD_MEMBER}"):
        return MODEL_CARD_MAX_BYTES + 1  # one byte more tells a card that is too large
    base = posixpath.basename(name)
    if base == "checkpoint":
        return STATE_HEAD_BYTES
    return INDEX_HEAD_BYTES if base.endswith(".index") else 0


def _describe(head: bytes) -> str:
    if head.startswith(HDF5_MAGIC):
        return "an HDF5 (Keras .h5) file"
    if head[4:8] == TFLITE_IDENTIFIER:
        return "a TFLite flatbuffer"
    if not head:
        return "empty"
    if head[:1] == bytes([SAVED_MODEL_FIRST_BYTE]):
        return "a SavedModel's saved_model.pb"
    if head[257:262] == b"ustar":
        return "an uncompressed tar archive"
    return "not a recognised model file"


def _detect_file(head: bytes, filename: str, declared: str) -> DetectedUpload:
    name = show(filename)
    if declared in ("checkpoint", "savedmodel"):
        raise UnsupportedFormat(
            f"a {declared} is a directory of files, but '{name}' is a single file; upload the "
            "directory as a .tar.gz or .zip archive"
        )
    if head.startswith(HDF5_MAGIC):
        kind = "keras"
    elif head[4:8] == TFLITE_IDENTIFIER:
        kind = "tflite"
    elif declared == "frozen_pb" or (declared == "auto" and filename.lower().endswith(".pb")):
        kind = "frozen_pb"
    elif declared != "auto":
        raise UnsupportedFormat(
            f"format '{declared}' was declared, but '{name}' is {_describe(head)}"
        )
    elif head[257:262] == b"ustar":
        raise UnsupportedFormat(
            f"'{name}' is an uncompressed tar archive; compress it (.tar.gz) or use .zip"
        )
    else:
        raise UnsupportedFormat(f"'{name}' is {_describe(head)}; the registry accepts {_SUPPORTED}")
    if declared not in ("auto", kind):
        raise UnsupportedFormat(
            f"format '{declared}' was declared, but '{name}' is {_describe(head)}"
        )
    if kind == "frozen_pb":
        _check_graphdef_head(head, filename)
    return DetectedUpload(kind, "file", "", None, ())


def _check_graphdef_head(head: bytes, filename: str) -> None:
    """The one cheap look at a .pb: its first protobuf tag must be one a GraphDef can have."""
    name = show(filename)
    if not head:
        raise UploadRejected(f"'{name}' is empty; a frozen graph (.pb) holds a GraphDef")
    if posixpath.basename(filename.replace("\\", "/")) in _SAVED_MODEL_FILES or (
        head[0] == SAVED_MODEL_FIRST_BYTE
    ):
        raise UnsupportedFormat(
            f"'{name}' looks like a SavedModel's saved_model.pb, not a frozen GraphDef; upload "
            "the whole SavedModel directory (saved_model.pb, variables/) as a .tar.gz or .zip"
        )
    if head[0] not in GRAPHDEF_FIRST_BYTES:
        raise UnsupportedFormat(
            f"'{name}' does not look like a serialized GraphDef (first byte {head[0]:#04x}); "
            f"the registry accepts {_SUPPORTED}"
        )


def _is_junk(name: str) -> bool:
    """Files archivers add that are never part of a model (macOS resource forks and such)."""
    base = posixpath.basename(name)
    return name.startswith("__MACOSX/") or base == ".DS_Store" or base.startswith("._")


def _is_keras_zip(scan: ArchiveScan) -> bool:
    top = {name for name in scan.files if "/" not in name}
    return "config.json" in top and bool(top & {"model.weights.h5", "metadata.json"})


def _model_card(scan: ArchiveScan, root: str) -> str | None:
    """The SavedModel's README.md from assets.extra/; a card too large is left out."""
    name = posixpath.join(root, MODEL_CARD_MEMBER)
    if name not in scan.files:
        return None
    head = scan.probe(name).head
    if len(head) > MODEL_CARD_MAX_BYTES:
        return None
    return head.decode("utf-8", errors="replace")


def _detect_archive(scan: ArchiveScan, packaging: str, declared: str) -> DetectedUpload:
    files = [f for f in scan.files if not _is_junk(f)]
    saved = sorted(
        {posixpath.dirname(f) for f in files if posixpath.basename(f) in _SAVED_MODEL_FILES}
    )
    if len(saved) > 1 and declared in ("auto", "savedmodel"):
        listed = ", ".join(f"'{show(d or '.')}'" for d in saved)
        raise UploadRejected(f"the archive holds several SavedModels ({listed}); upload one")
    if saved and declared in ("auto", "savedmodel"):
        card = _model_card(scan, saved[0])
        return DetectedUpload("savedmodel", packaging, saved[0], None, scan.files, card)
    if declared == "savedmodel":
        raise UnsupportedFormat(
            "format 'savedmodel' was declared, but the archive has no saved_model.pb"
        )
    if saved:
        raise UnsupportedFormat(
            f"format 'checkpoint' was declared, but the archive holds a SavedModel "
            f"(saved_model.pb in '{show(saved[0] or '.')}'); declare savedmodel or auto"
        )
    variables = [f for f in files if ("/" + f).endswith("/variables/variables.index")]
    if variables:
        where = posixpath.dirname(posixpath.dirname(variables[0])) or "."
        raise UnsupportedFormat(
            f"the archive holds a SavedModel's variables/ but no saved_model.pb in "
            f"'{show(where)}'; include saved_model.pb next to variables/"
        )
    found = detect_checkpoint(scan, files)
    if found is not None:
        root, prefix = found
        return DetectedUpload("checkpoint", packaging, root, prefix, scan.files)
    singles = [f for f in files if f.lower().endswith(_MODEL_FILE_SUFFIXES)]
    if len(singles) == 1 and len(files) == 1:
        raise UnsupportedFormat(
            f"the archive holds only '{show(singles[0])}'; upload that file itself, not an archive"
        )
    raise UnsupportedFormat(
        "the archive holds neither a SavedModel (saved_model.pb) nor a TF1 checkpoint "
        f"(.meta, .index, .data-*); the registry accepts {_SUPPORTED}"
    )
