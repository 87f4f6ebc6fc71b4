"""Finding the model inside an upload (a file, or an unpacked directory) and sniffing its format.

No TensorFlow here: these checks run before anything is parsed, so a wrong upload gets a
message about what it is missing rather than a TensorFlow stack trace.
"""

from __future__ import annotations

import re
import zipfile
from pathlib import Path

from registry.convert.contract import ConversionError

TF2_CHECKPOINT_MARKER = b"_CHECKPOINTABLE_OBJECT_GRAPH"
_HDF5_SIGNATURE = b"\x89HDF\r\n\x1a\n"
_STEP = re.compile(r"-(\d+)$")
_SHARD = re.compile(r"\.data-(\d+)-of-(\d+)$")


def _walk(path: Path, pattern: str) -> list[Path]:
    return sorted(p for p in path.rglob(pattern) if p.is_file())


def find_checkpoint_prefix(path: str | Path) -> Path:
    """The prefix (`dir/model.ckpt-100`) of the TF1 checkpoint in an upload.

    Taken from the `*.index` files present, never from the `checkpoint` state file's paths:
    those are absolute paths on the machine that wrote them (docs/conversion.md §2). The state
    file's basename only breaks ties between several checkpoints; then the highest step wins.
    """
    path = Path(path)
    if path.is_file():
        path = path.with_suffix("") if path.suffix in (".index", ".meta") else path
        prefixes = [path] if Path(f"{path}.index").exists() else []
    else:
        prefixes = [p.with_suffix("") for p in _walk(path, "*.index")]
        # A SavedModel's variables/variables.index is not a checkpoint upload.
        prefixes = [p for p in prefixes if not (p.parent / "../saved_model.pb").exists()]
    if not prefixes:
        raise ConversionError(
            "no checkpoint found: expected files X.index, X.data-00000-of-00001 and X.meta"
        )
    with_graph = [p for p in prefixes if Path(f"{p}.meta").exists()]
    if not with_graph:
        return _reject_graphless(prefixes[0])
    return _newest(with_graph)


def _reject_graphless(prefix: Path) -> Path:
    index = Path(f"{prefix}.index").read_bytes()
    if TF2_CHECKPOINT_MARKER in index:
        raise ConversionError(
            "this is a TF2 object-based checkpoint (tf.train.Checkpoint or save_weights): it holds "
            "variable values but no graph, so it cannot be converted without the model's code. "
            "Upload the whole model instead: a .keras or .h5 file, or a SavedModel"
        )
    raise ConversionError(
        f"checkpoint {prefix.name} has no {prefix.name}.meta graph file; a TF1 checkpoint needs "
        "its .meta (written by tf.compat.v1.train.Saver) to be converted"
    )


def _newest(prefixes: list[Path]) -> Path:
    if len(prefixes) == 1:
        return prefixes[0]
    for state in {p.parent / "checkpoint" for p in prefixes}:
        if state.exists():
            match = re.search(r'^model_checkpoint_path:\s*"(.*)"', state.read_text(), re.M)
            if match:
                named = Path(match.group(1).replace("\\", "/")).name
                chosen = [p for p in prefixes if p.name == named and p.parent == state.parent]
                if chosen:
                    return chosen[0]

    def step(p: Path) -> int:
        m = _STEP.search(p.name)
        return int(m.group(1)) if m else -1

    return max(prefixes, key=lambda p: (step(p), str(p)))


def check_checkpoint_shards(prefix: Path) -> None:
    """Every data shard the checkpoint's names promise must be present."""
    shards = sorted(prefix.parent.glob(f"{prefix.name}.data-*"))
    if not shards:
        raise ConversionError(
            f"checkpoint {prefix.name} has no data file ({prefix.name}.data-00000-of-00001): "
            "upload all of the checkpoint's files"
        )
    match = _SHARD.search(shards[0].name)
    if match:
        total = int(match.group(2))
        present = {int(m.group(1)) for s in shards if (m := _SHARD.search(s.name))}
        missing = [i for i in range(total) if i not in present]
        if missing:
            names = ", ".join(f"{prefix.name}.data-{i:05d}-of-{total:05d}" for i in missing[:3])
            raise ConversionError(f"checkpoint data shard(s) missing: {names}")


def find_savedmodel_dir(path: str | Path) -> Path:
    """The directory holding saved_model.pb: the upload itself or one directory in it.

    Several (a TF Serving base directory with versions 1/, 2/...) -> the highest number.
    """
    path = Path(path)
    if path.is_file() and path.name == "saved_model.pb":
        return path.parent
    if (path / "saved_model.pb").exists():
        return path
    found = [p.parent for p in _walk(path, "saved_model.pb")] if path.is_dir() else []
    if not found:
        if path.is_dir() and _walk(path, "saved_model.pbtxt"):
            raise ConversionError("saved_model.pbtxt (text format) is not supported; export binary")
        raise ConversionError("no saved_model.pb found in the upload; a SavedModel is a directory")
    if len(found) == 1:
        return found[0]
    numbered = [p for p in found if p.name.isdigit()]
    if numbered and len({p.parent for p in numbered}) == 1:
        return max(numbered, key=lambda p: int(p.name))
    listed = ", ".join(str(p.relative_to(path)) for p in found[:5])
    raise ConversionError(f"the upload holds several SavedModels ({listed}); upload one")


def find_model_file(path: str | Path, suffixes: tuple[str, ...], what: str) -> Path:
    """The single file with one of `suffixes` in a directory upload, or the file itself."""
    path = Path(path)
    if path.is_file():
        return path
    if not path.exists():
        raise ConversionError(f"{what} not found: {path}")
    found = [p for s in suffixes for p in _walk(path, f"*{s}")]
    if len(found) != 1:
        many = "several" if found else "no"
        raise ConversionError(
            f"the upload holds {many} {'/'.join(suffixes)} files; upload one {what}"
        )
    return found[0]


def check_keras_file(path: Path) -> str:
    """'keras' or 'h5' after checking the container format (load_model's errors mislead)."""
    head = path.read_bytes()[:8] if path.stat().st_size else b""
    if head == _HDF5_SIGNATURE:
        return "h5"
    if zipfile.is_zipfile(path):
        with zipfile.ZipFile(path) as archive:
            names = set(archive.namelist())
        if "config.json" in names:
            return "keras"
        raise ConversionError(
            "not a valid .keras file: the zip has no config.json (a .keras file is a zip with "
            "config.json, metadata.json and model.weights.h5)"
        )
    if path.suffix == ".h5":
        raise ConversionError("not a valid .h5 file: the HDF5 signature is missing")
    raise ConversionError("not a valid .keras file (a zip with config.json) nor an HDF5 .h5 file")
