"""One conversion, source to target, with its parity check; and describing a source.

Runs inside the converter process (it imports TensorFlow). The routes:

    checkpoint  -> restore -> freeze -> [frozen_pb] | savedmodel-build -> [savedmodel] | tflite
    frozen_pb   -> load-graph -> freeze (prune) -> savedmodel-build -> [savedmodel] | tflite
    keras       -> load-keras -> freeze -> [frozen_pb];  savedmodel-export -> [savedmodel] | tflite
    savedmodel  -> load-savedmodel -> freeze -> [frozen_pb];  tflite-convert straight from it,
                   or via freeze + savedmodel-build when inputs need renaming or input_shapes

TFLite is always converted from a SavedModel (see tflite_build).
"""

from __future__ import annotations

import functools
import keyword
import shutil
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
from tensorflow.core.framework import graph_pb2

from registry.convert import graphs
from registry.convert.contract import (
    ConversionError,
    ConversionRequest,
    check_options,
    check_request,
)
from registry.convert.failures import explain
from registry.convert.freezing import with_input_shapes
from registry.convert.graph_sources import CheckpointSource, GraphSource
from registry.convert.model_sources import KerasSource, SavedModelSource, TFLiteSource
from registry.convert.parity import InputsUnavailable, check_parity, example_inputs, not_checked
from registry.convert.runners import (
    Runner,
    TFLiteRunner,
    graph_def_runner,
    savedmodel_runner,
)
from registry.convert.savedmodel_build import (
    SERVING_KEY,
    SERVING_TAGS,
    savedmodel_from_frozen,
    savedmodel_from_keras,
)
from registry.convert.signatures import tflite_tensor_facts
from registry.convert.source_cache import LoadedSource, SourceCache, link_tree
from registry.convert.tflite_build import (
    QUANTIZATION,
    FullInteger,
    TensorListsNeedStaticShapes,
    convert_savedmodel,
)
from registry.convert.tflite_report import tflite_report

SOURCES = {
    "checkpoint": CheckpointSource,
    "frozen_pb": GraphSource,
    "keras": KerasSource,
    "savedmodel": SavedModelSource,
    "tflite": TFLiteSource,
}
LOAD_STEP = {
    "checkpoint": "restore",
    "frozen_pb": "load-graph",
    "keras": "load-keras",
    "savedmodel": "load-savedmodel",
}
FIXED_BATCH = 1
# Rows of example_inputs a full-integer conversion calibrates on (each row one batch of 1).
CALIBRATION_ROWS = 200
QUANTIZE_STEP = {
    "tflite_fp16": "quantize-float16",
    "tflite_int8": "quantize-int8-dynamic",
    "tflite_int8_full": "quantize-int8-full",
}


def open_source(kind: str, path: str | Path, options: dict[str, Any], guard: bool = True):
    """Load an upload of `kind`; every failure becomes a ConversionError."""
    check_options(options)
    if kind not in SOURCES:
        raise ConversionError(f"unknown source kind {kind!r}; expected one of {', '.join(SOURCES)}")
    if not Path(path).exists():
        raise ConversionError(f"the upload is missing: {path}")
    try:
        return SOURCES[kind](path, options, guard)
    except ConversionError:
        raise
    except Exception as exc:
        raise explain(exc, f"reading the {kind} upload") from None


def describe_source(
    kind: str, path: str | Path, options: dict[str, Any], guard: bool, sources: SourceCache
):
    """The signature of an upload: {inputs, outputs, signatures, ...} (see signatures.py)."""
    with sources.loaded(kind, path, options, guard, open_source) as loaded:
        return {**loaded.source.signature, "options": loaded.source.options_used}


def _size(path: Path) -> int:
    if path.is_file():
        return path.stat().st_size
    return sum(p.stat().st_size for p in path.rglob("*") if p.is_file())


def _check_input_shapes(source, input_shapes: dict[str, list[int]] | None) -> None:
    names = [e.name for e in source.inputs]
    unknown = [n for n in (input_shapes or {}) if n not in names]
    if unknown:
        raise ConversionError(
            f"input_shapes names {', '.join(unknown)}, not an input; inputs: {', '.join(names)}"
        )


def _to_frozen_pb(source, output: Path):
    frozen = source.frozen()
    output.write_bytes(frozen.graph_def.SerializeToString())
    # The variant is run from the written bytes, not from the graph still in memory.
    written = graph_pb2.GraphDef()
    written.ParseFromString(output.read_bytes())
    runner = graph_def_runner(written, frozen.inputs, frozen.outputs)
    facts = {
        "input_nodes": [graphs.node_of(e.tensor) for e in frozen.inputs],
        "output_nodes": [graphs.node_of(e.tensor) for e in frozen.outputs],
        "inputs": [{**e.as_dict(), "tensor": e.tensor} for e in frozen.inputs],
        "outputs": [{**e.as_dict(), "tensor": e.tensor} for e in frozen.outputs],
        "nodes": len(written.node),
    }
    return facts, runner, {}, ["freeze"]


def _to_savedmodel(loaded: LoadedSource, output: Path):
    export = _exported(loaded, None, output)
    if export.dir != output:  # exported for an earlier request on the same source
        link_tree(export.dir, output)
    renamed, steps = export.renamed, export.steps
    runner = savedmodel_runner(output, SERVING_TAGS, SERVING_KEY)
    facts = {
        "signature_key": SERVING_KEY,
        "tags": SERVING_TAGS,
        "inputs": [e.as_dict() for e in runner.inputs],
        "outputs": [e.as_dict() for e in runner.outputs],
    }
    return facts, runner, renamed, steps


def _needs_renaming(source) -> bool:
    return any(keyword.iskeyword(e.name) for e in source.inputs)


@dataclass
class _Export:
    """A SavedModel to convert to TFLite: where, which signature, and how it was made."""

    dir: Path
    key: str
    tags: list[str]
    renamed: dict[str, str]
    steps: list[str]


def _build_savedmodel(source, input_shapes: dict[str, list[int]] | None, place: Path) -> _Export:
    """A SavedModel with a serving signature at `place`, exported from Keras or built from the
    frozen graph."""
    if isinstance(source, KerasSource):
        renamed = savedmodel_from_keras(source, place, input_shapes)
        return _Export(place, SERVING_KEY, SERVING_TAGS, renamed, ["savedmodel-export"])
    frozen = source.frozen()
    if input_shapes:
        frozen = with_input_shapes(frozen, input_shapes)
    renamed = savedmodel_from_frozen(frozen, place).renamed_inputs
    return _Export(place, SERVING_KEY, SERVING_TAGS, renamed, ["freeze", "savedmodel-build"])


def _exported(loaded: LoadedSource, input_shapes, place: Path) -> _Export:
    """The SavedModel for `input_shapes`: exported earlier from the same source, else at
    `place`."""
    build = functools.partial(_build_savedmodel, loaded.source, input_shapes)
    return loaded.export(input_shapes, place, build)


def _export_for_tflite(
    loaded: LoadedSource, export_dir: Path, input_shapes: dict[str, list[int]] | None
):
    """The SavedModel TFLite converts from: the upload itself when it can be, else one
    exported (at `export_dir` unless exported before)."""
    source = loaded.source
    if (
        isinstance(source, SavedModelSource)
        and not input_shapes
        and not source.constants
        and not _needs_renaming(source)
    ):
        return _Export(source.dir, source.signature_key, source.tags, {}, [])
    return _exported(loaded, input_shapes, export_dir)


def _fixed_batch_shapes(source, input_shapes: dict[str, list[int]] | None):
    """input_shapes with a batch of 1 wherever an input's batch is dynamic; None if none is."""
    shapes = dict(input_shapes or {})
    fixed = False
    for endpoint in source.inputs:
        dims = list(shapes.get(endpoint.name, endpoint.shape) or [])
        if dims and dims[0] < 0:
            shapes[endpoint.name] = [FIXED_BATCH, *dims[1:]]
            fixed = True
    return shapes if fixed else None


def _calibration(source, request: ConversionRequest) -> dict[str, np.ndarray] | None:
    """The example inputs a full-integer conversion calibrates on, keyed by input name."""
    if request.target_kind != "tflite_int8_full":
        return None
    if not request.example_inputs_path:
        raise ConversionError(
            "tflite_int8_full is calibrated on real inputs: upload example_inputs (an .npz "
            "keyed by input name) with the model"
        )
    try:
        feeds = example_inputs(source.inputs, request.example_inputs_path)
    except InputsUnavailable as exc:
        raise ConversionError(str(exc).removeprefix("not checked: ")) from None
    return {name: value[:CALIBRATION_ROWS] for name, value in feeds.items()}


def _full_integer(calibration, renamed: dict[str, str], int8_io: bool) -> FullInteger | None:
    """Calibration rows one at a time, under the exported signature's input names."""
    if calibration is None:
        return None
    rows = min(len(value) for value in calibration.values())

    def representative():
        for row in range(rows):
            yield {renamed.get(k, k): v[row : row + 1] for k, v in calibration.items()}

    return FullInteger(representative, int8_io)


def _convert_to_tflite(
    loaded: LoadedSource,
    scratch: Path,
    input_shapes,
    target_kind: str,
    calibration=None,
    int8_io=False,
):
    """TFLite by the first path that works, as (model, export, path).

    Builtins at the model's own shapes first. A model whose tensor lists need static shapes
    (a Keras RNN) is retried with a fixed batch of 1, which keeps it on builtins (and runs
    anywhere); only if that fails too does it keep its dynamic batch with the tensor lists
    left to Select TF ops (docs/conversion.md §11).
    """
    export = _export_for_tflite(loaded, scratch / "savedmodel", input_shapes)
    full = _full_integer(calibration, export.renamed, int8_io)
    try:
        model = convert_savedmodel(
            export.dir, target_kind, export.key, export.tags, full_integer=full
        )
        return model, export, "select-tf-ops" if model.needs_flex else "builtins"
    except TensorListsNeedStaticShapes:
        fixed_shapes = _fixed_batch_shapes(loaded.source, input_shapes)
    if fixed_shapes is not None:
        fixed = _export_for_tflite(loaded, scratch / "savedmodel-fixed-batch", fixed_shapes)
        try:
            fixed_full = _full_integer(calibration, fixed.renamed, int8_io)
            model = convert_savedmodel(
                fixed.dir, target_kind, fixed.key, fixed.tags, full_integer=fixed_full
            )
            return model, fixed, "fixed-batch"
        except ConversionError:
            pass
    model = convert_savedmodel(
        export.dir, target_kind, export.key, export.tags, keep_tensor_lists=True, full_integer=full
    )
    return model, export, "select-tf-ops"


def _to_tflite(loaded: LoadedSource, output: Path, request: ConversionRequest):
    source, options, target_kind = loaded.source, request.options, request.target_kind
    input_shapes = options.get("input_shapes") or None
    unranked = [
        e.name for e in source.inputs if e.shape is None and e.name not in (input_shapes or {})
    ]
    if unranked:
        # The converter would silently make such an input a scalar (docs/conversion.md §5).
        raise ConversionError(
            f"input(s) {', '.join(unranked)} have an unknown rank, which TFLite cannot keep: pass "
            f'input_shapes, e.g. {{"{unranked[0]}": [1, 224, 224, 3]}}'
        )
    calibration = _calibration(source, request)
    with tempfile.TemporaryDirectory(prefix="tflite-", dir=output.parent) as scratch:
        model, export, path = _convert_to_tflite(
            loaded,
            Path(scratch),
            input_shapes,
            target_kind,
            calibration,
            bool(options.get("int8_io")),
        )
    output.write_bytes(model.content)
    steps = [*export.steps, "tflite-convert"]
    if path == "fixed-batch":
        steps.insert(-1, "fix-batch")
    if target_kind in QUANTIZE_STEP:
        steps.append(QUANTIZE_STEP[target_kind])
    if model.needs_flex:
        steps.append("select-tf-ops")
    runner = TFLiteRunner(output, export.key)
    interpreter = runner.interpreter
    facts = {
        "signature_key": runner.signature_key,
        "signatures": interpreter.get_signature_list(),
        "quantization": QUANTIZATION[target_kind],
        "conversion_path": path,
        "needs_flex": model.needs_flex,
        "flex_ops": model.flex_ops,
        "ops": model.ops,
        "inputs": [e.as_dict() for e in runner.inputs],
        "outputs": [e.as_dict() for e in runner.outputs],
        "tensors": {
            "inputs": [tflite_tensor_facts(d) for d in interpreter.get_input_details()],
            "outputs": [tflite_tensor_facts(d) for d in interpreter.get_output_details()],
        },
        "report": tflite_report(model.content),
    }
    if calibration is not None:
        facts["calibration_rows"] = min(len(v) for v in calibration.values())
    if path == "fixed-batch":
        facts["fixed_batch"] = FIXED_BATCH
    return facts, (None if model.needs_flex else runner), export.renamed, steps


def _prepare_output(path: Path) -> None:
    if path.exists() and (path.is_file() or any(path.iterdir())):
        raise ConversionError(f"output_path {path} already exists")
    path.parent.mkdir(parents=True, exist_ok=True)


def _remove(path: Path) -> None:
    """Drop a half-written output so a failed conversion leaves nothing that looks usable."""
    if path.is_dir():
        shutil.rmtree(path, ignore_errors=True)
    elif path.exists():
        path.unlink()


def _produce(loaded: LoadedSource, request: ConversionRequest, output: Path):
    target = request.target_kind
    try:
        if target == "frozen_pb":
            return _to_frozen_pb(loaded.source, output)
        if target == "savedmodel":
            return _to_savedmodel(loaded, output)
        return _to_tflite(loaded, output, request)
    except ConversionError:
        raise
    except Exception as exc:
        raise explain(exc, f"converting {request.source_kind} to {target}") from None


def _parity(
    loaded: LoadedSource, runner: Runner | None, request: ConversionRequest, facts: dict[str, Any]
):
    if runner is None:
        # Neither the tensorflow nor the ai-edge-litert wheel carries the Flex delegate
        # (docs/conversion.md §13), so a model with Select TF ops cannot be run here.
        return not_checked(
            f"not checked: needs the Flex delegate for {', '.join(facts['flex_ops'])}, which "
            "no interpreter installed here has"
        )
    source = loaded.source
    try:
        # Remembers the source's outputs, so each variant's check runs the source once.
        source_runner = loaded.runner()
    except ConversionError as exc:
        return not_checked(f"not checked: the source could not be run: {exc}")
    return check_parity(
        source_runner,
        runner,
        request.target_kind,
        renamed_inputs=facts["renamed_inputs"],
        input_shapes=request.options.get("input_shapes"),
        example_inputs_path=request.example_inputs_path,
        distributions=source.input_distributions() if isinstance(source, KerasSource) else None,
    )


def convert(request: ConversionRequest, guard: bool, sources: SourceCache) -> dict[str, Any]:
    """Produce `request.target_kind` at `request.output_path`; the result dict lacks versions.

    The source comes from `sources` when an earlier request loaded the same bytes."""
    check_request(request)
    output = Path(request.output_path)
    _prepare_output(output)
    started = time.monotonic()
    opened = sources.loaded(
        request.source_kind, request.source_path, request.options, guard, open_source
    )
    with opened as loaded:
        return _convert(loaded, request, output, started)


def _convert(loaded: LoadedSource, request: ConversionRequest, output: Path, started: float):
    source = loaded.source
    runner = None
    try:
        _check_input_shapes(source, request.options.get("input_shapes"))
        try:
            facts, runner, renamed, steps = _produce(loaded, request, output)
        except BaseException:
            _remove(output)
            raise
        converted = time.monotonic()
        facts = {"renamed_inputs": renamed, "needs_flex": False, "flex_ops": [], **facts}
        parity = _parity(loaded, runner, request, facts)
        variant = {
            "kind": request.target_kind,
            "size": _size(output),
            **facts,
            "seconds": {
                "convert": round(converted - started, 3),
                "parity": round(time.monotonic() - converted, 3),
            },
        }
        options = {**source.options_used}
        if request.options.get("input_shapes"):
            options["input_shapes"] = request.options["input_shapes"]
        return {
            "signature": source.signature,
            "variant": variant,
            "parity": parity,
            "steps": [LOAD_STEP[source.kind], *steps],
            "options": options,
        }
    finally:
        if runner is not None:
            runner.close()
