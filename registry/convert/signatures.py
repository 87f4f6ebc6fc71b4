"""Named inputs and outputs of a model, and their JSON form: {name, dtype, shape}.

Shapes are lists with -1 for an unknown dimension, or None for an unknown rank.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np
import tensorflow as tf


@dataclass
class Endpoint:
    """One input or output: the name a user sees, and the graph tensor behind it (if any)."""

    name: str
    dtype: str
    shape: list[int] | None
    tensor: str = ""

    def as_dict(self) -> dict[str, Any]:
        return {"name": self.name, "dtype": self.dtype, "shape": self.shape}


def dtype_name(dtype: Any) -> str:
    """'float32' etc. from a tf.DType, a DataType enum, a numpy dtype or a numpy type."""
    if isinstance(dtype, int):
        return tf.as_dtype(dtype).name
    if isinstance(dtype, tf.DType):
        return dtype.name
    return np.dtype(dtype).name


def shape_list(shape: Any) -> list[int] | None:
    """A TensorShape, TensorShapeProto or sequence as a list with -1 for unknown dims."""
    if hasattr(shape, "unknown_rank") and hasattr(shape, "dim"):  # TensorShapeProto
        return None if shape.unknown_rank else [int(d.size) for d in shape.dim]
    shape = tf.TensorShape(shape)
    if shape.rank is None:
        return None
    return [-1 if d is None else int(d) for d in shape.as_list()]


def tensor_endpoint(name: str, tensor: Any) -> Endpoint:
    """An Endpoint for a graph tensor or a Keras/TensorSpec-like object."""
    return Endpoint(
        name, dtype_name(tensor.dtype), shape_list(tensor.shape), getattr(tensor, "name", "")
    )


def signature_def_endpoints(entries) -> list[Endpoint]:
    """Endpoints of a SignatureDef's inputs or outputs map (TensorInfo protos), sorted by key."""
    return [
        Endpoint(key, dtype_name(info.dtype), shape_list(info.tensor_shape), info.name)
        for key, info in sorted(entries.items())
    ]


def signature_dict(
    inputs: list[Endpoint],
    outputs: list[Endpoint],
    signatures: dict[str, tuple[list[Endpoint], list[Endpoint]]] | None = None,
    **extra: Any,
) -> dict[str, Any]:
    """The `signature` JSON of a source: its main inputs/outputs and every named signature."""
    return {
        "inputs": [e.as_dict() for e in inputs],
        "outputs": [e.as_dict() for e in outputs],
        "signatures": {
            key: {"inputs": [e.as_dict() for e in ins], "outputs": [e.as_dict() for e in outs]}
            for key, (ins, outs) in sorted((signatures or {}).items())
        },
        **extra,
    }


def tflite_tensor_facts(detail: dict[str, Any]) -> dict[str, Any]:
    """The JSON form of one ai_edge_litert tensor detail."""
    return {
        "name": detail["name"],
        "dtype": dtype_name(detail["dtype"]),
        "shape": [int(d) for d in detail["shape"]],
        "shape_signature": [int(d) for d in detail.get("shape_signature", detail["shape"])],
        "quantization": _quantization(detail.get("quantization_parameters") or {}),
    }


def _quantization(parameters: dict[str, Any]) -> dict[str, Any] | None:
    """An integer tensor's scales and zero points (one per channel, or one); None for float."""
    scales = [float(s) for s in parameters.get("scales", [])]
    if not scales:
        return None
    return {
        "scales": scales,
        "zero_points": [int(z) for z in parameters.get("zero_points", [])],
        "quantized_dimension": int(parameters.get("quantized_dimension", 0)),
    }
