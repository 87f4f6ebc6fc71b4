"""Running a model by input and output NAMES, whatever its kind.

Each runner takes {input name: array} and returns {output name: array}. Used for the source
and for every produced variant, so that parity compares like with like. TFLite runs on
ai_edge_litert's Interpreter (what devices use), never tf.lite.Interpreter.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Protocol

import numpy as np
import tensorflow as tf

from registry.convert import graphs
from registry.convert.control_inputs import ConstantInput
from registry.convert.signatures import Endpoint, signature_def_endpoints

v1 = tf.compat.v1


class Runner(Protocol):
    inputs: list[Endpoint]
    outputs: list[Endpoint]

    def run(self, feeds: dict[str, np.ndarray]) -> dict[str, np.ndarray]: ...

    def close(self) -> None: ...


class SessionRunner:
    """A TF1 graph in its own Session, fed and fetched through endpoint tensor names.

    `constants` are inputs fed the same value every run (option input_constants).
    """

    def __init__(
        self,
        graph: tf.Graph,
        session: Any,
        inputs: list[Endpoint],
        outputs: list[Endpoint],
        constants: Sequence[ConstantInput] = (),
    ):
        self.graph, self.session = graph, session
        self.inputs, self.outputs = inputs, outputs
        self.constants = list(constants)

    def run(self, feeds: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
        feed = {graphs.tensor_name(c.endpoint.tensor): c.value for c in self.constants}
        feed.update({graphs.tensor_name(e.tensor): feeds[e.name] for e in self.inputs})
        fetch = {e.name: graphs.tensor_name(e.tensor) for e in self.outputs}
        return self.session.run(fetch, feed)

    def close(self) -> None:
        self.session.close()


def session_config(threads: int | None) -> Any:
    """A Session's configuration: `threads` for its op pools, or TensorFlow's default."""
    if threads is None:
        return None
    return v1.ConfigProto(
        intra_op_parallelism_threads=threads, inter_op_parallelism_threads=threads
    )


def graph_def_runner(
    graph_def,
    inputs: list[Endpoint],
    outputs: list[Endpoint],
    constants: Sequence[ConstantInput] = (),
    threads: int | None = None,
) -> SessionRunner:
    """Run a (frozen) GraphDef as it is; endpoint tensors name its nodes."""
    graph = tf.Graph()
    with graph.as_default():
        tf.graph_util.import_graph_def(graph_def, name="")
    session = v1.Session(graph=graph, config=session_config(threads))
    return SessionRunner(graph, session, inputs, outputs, constants)


def savedmodel_runner(
    export_dir: str | Path,
    tags: list[str],
    signature_key: str,
    constants: Sequence[ConstantInput] = (),
    threads: int | None = None,
) -> SessionRunner:
    """Run one signature of a SavedModel the way TF Serving does: the TF1 loader, a Session.

    Works for TF1 and TF2 SavedModels alike, and for input keys such as `in` that TF2's
    loader rejects. Inputs named in `constants` are fed their values, not taken.
    """
    graph = tf.Graph()
    with graph.as_default():
        session = v1.Session(graph=graph, config=session_config(threads))
        meta_graph = v1.saved_model.loader.load(session, tags, str(export_dir))
    signature = meta_graph.signature_def[signature_key]
    fixed = {c.endpoint.name for c in constants}
    inputs = [e for e in signature_def_endpoints(signature.inputs) if e.name not in fixed]
    return SessionRunner(
        graph, session, inputs, signature_def_endpoints(signature.outputs), constants
    )


class KerasRunner:
    """A loaded Keras model, called with its inputs in model.inputs order."""

    def __init__(self, model: Any, inputs: list[Endpoint], outputs: list[Endpoint]):
        self.model, self.inputs, self.outputs = model, inputs, outputs

    def run(self, feeds: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
        args = [feeds[e.name] for e in self.inputs]
        result = self.model(args if len(args) > 1 else args[0], training=False)
        values = result if isinstance(result, list | tuple) else [result]
        return {
            e.name: v.numpy() if hasattr(v, "numpy") else np.asarray(v)
            for e, v in zip(self.outputs, values, strict=True)
        }

    def close(self) -> None:
        pass


class TFLiteRunner:
    """A .tflite file on the LiteRT interpreter: a signature runner, or tensors by name.

    A full-integer model with int8 inputs and outputs is fed and read in float, as its source
    is: inputs are quantized with their tensor's scale and zero point, outputs dequantized.
    """

    def __init__(
        self, path: str | Path, signature_key: str | None = None, threads: int | None = None
    ):
        from ai_edge_litert.interpreter import Interpreter

        self.interpreter = Interpreter(model_path=str(path), num_threads=threads)
        signatures = self.interpreter.get_signature_list()
        self.signature_key = signature_key if signature_key in signatures else None
        if self.signature_key is None and len(signatures) == 1:
            self.signature_key = next(iter(signatures))
        if self.signature_key:
            names = signatures[self.signature_key]
            runner = self.interpreter.get_signature_runner(self.signature_key)
            in_details, out_details = runner.get_input_details(), runner.get_output_details()
            in_details = {n: in_details[n] for n in names["inputs"]}
            out_details = {n: out_details[n] for n in names["outputs"]}
            self._runner = runner
        else:
            # A graph converted without a signature: tensor names are the graph's node names.
            in_details = {d["name"]: d for d in self.interpreter.get_input_details()}
            out_details = {d["name"]: d for d in self.interpreter.get_output_details()}
            self._runner = None
        self.inputs = [_tflite_endpoint(n, d) for n, d in in_details.items()]
        self.outputs = [_tflite_endpoint(n, d) for n, d in out_details.items()]
        self._input_scales = {n: _scale(d) for n, d in in_details.items()}
        self._output_scales = {n: _scale(d) for n, d in out_details.items()}

    def run(self, feeds: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
        feeds = {n: _quantized(v, self._input_scales.get(n)) for n, v in feeds.items()}
        return {n: _dequantized(v, self._output_scales.get(n)) for n, v in self._run(feeds).items()}

    def _run(self, feeds: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
        if self._runner is not None:
            return {k: np.asarray(v) for k, v in self._runner(**feeds).items()}
        interpreter = self.interpreter
        details = {d["name"]: d for d in interpreter.get_input_details()}
        for name, value in feeds.items():
            if list(details[name]["shape"]) != list(value.shape):
                interpreter.resize_tensor_input(details[name]["index"], value.shape, strict=False)
        interpreter.allocate_tensors()
        for name, value in feeds.items():
            interpreter.set_tensor(details[name]["index"], value)
        interpreter.invoke()
        return {
            d["name"]: np.array(interpreter.get_tensor(d["index"]))
            for d in interpreter.get_output_details()
        }

    def close(self) -> None:
        self._runner = None
        self.interpreter = None


@dataclass(frozen=True)
class Scale:
    """An integer tensor's affine quantization: real = scale * (value - zero_point)."""

    scale: float
    zero_point: int
    dtype: np.dtype


def _scale(detail: dict[str, Any]) -> Scale | None:
    scale, zero_point = detail.get("quantization") or (0.0, 0)
    dtype = np.dtype(detail["dtype"])
    return Scale(scale, zero_point, dtype) if scale and dtype.kind in "iu" else None


def _quantized(value: np.ndarray, scale: Scale | None) -> np.ndarray:
    if scale is None or value.dtype.kind != "f":
        return value
    info = np.iinfo(scale.dtype)
    steps = np.round(value / scale.scale) + scale.zero_point
    return np.clip(steps, info.min, info.max).astype(scale.dtype)


def _dequantized(value: np.ndarray, scale: Scale | None) -> np.ndarray:
    if scale is None:
        return value
    return ((value.astype(np.float32) - scale.zero_point) * scale.scale).astype(np.float32)


def _tflite_endpoint(name: str, detail: dict[str, Any]) -> Endpoint:
    shape = [int(d) for d in detail.get("shape_signature", detail["shape"])]
    # A quantized tensor is fed and read in float (see TFLiteRunner).
    dtype = "float32" if _scale(detail) else np.dtype(detail["dtype"]).name
    return Endpoint(name, dtype, shape, detail["name"])
