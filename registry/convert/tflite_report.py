"""What a .tflite file asks of the device that runs it: its operators, which of them need the
Flex runtime, which a GPU delegate cannot run, and how much memory its tensors take.

Read from the flatbuffer (LiteRT's schema module); nothing is run. TFLite's own model
analyzer has a GPU-compatibility check, but in the TensorFlow 2.21 and ai-edge-litert 2.3
wheels it passes every operator, even CONV_3D and Flex ops (docs/conversion.md §15), so the
check here is the analyzer's per-node warnings (kept, should a wheel carry a working check)
plus the operator kinds the GPU delegate has kernels for, from TFLite's GPU compatibility
checker (`tensorflow/lite/tools/versioning/gpu_compatibility.cc`).
"""

from __future__ import annotations

import collections
import re
from typing import Any

import numpy as np

FLEX_PREFIX = "Flex"
# The builtin operators the GPU delegate can run (the cases its compatibility checker knows;
# each has further conditions on shapes and types that are not checked here).
# fmt: off
GPU_BUILTINS = frozenset((
    "ABS", "ADD", "ADD_N", "ATAN2", "AVERAGE_POOL_2D", "BATCH_MATMUL", "CAST", "CEIL",
    "CONCATENATION", "CONV_2D", "COS", "CUMSUM", "DENSIFY", "DEPTHWISE_CONV_2D", "DEPTH_TO_SPACE",
    "DEQUANTIZE", "DIV", "DYNAMIC_UPDATE_SLICE", "ELU", "EMBEDDING_LOOKUP", "EQUAL", "EXP",
    "FLOOR", "FLOOR_DIV", "FLOOR_MOD", "FULLY_CONNECTED", "GATHER", "GELU", "GREATER",
    "GREATER_EQUAL", "HARD_SWISH", "LEAKY_RELU", "LESS", "LESS_EQUAL", "LOG", "LOGICAL_AND",
    "LOGISTIC", "LSTM", "MAXIMUM", "MAX_POOL_2D", "MEAN", "MINIMUM", "MIRROR_PAD", "MUL", "NEG",
    "NOT_EQUAL", "ONE_HOT", "PACK", "PAD", "PADV2", "POW", "PRELU", "QUANTIZE", "REDUCE_MAX",
    "REDUCE_MIN", "REDUCE_PROD", "RELU", "RELU6", "RELU_N1_TO_1", "RESHAPE", "RESIZE_BILINEAR",
    "RESIZE_NEAREST_NEIGHBOR", "RSQRT", "SELECT", "SELECT_V2", "SIGN", "SIN", "SLICE", "SOFTMAX",
    "SPACE_TO_DEPTH", "SPLIT", "SPLIT_V", "SQRT", "SQUARE", "SQUARED_DIFFERENCE",
    "STABLEHLO_CLAMP", "STRIDED_SLICE", "SUB", "SUM", "TANH", "TILE", "TRANSPOSE",
    "TRANSPOSE_CONV",
))
# fmt: on
GPU_CUSTOM_OPS = frozenset(
    ("Convolution2DTransposeBias", "MaxPoolingWithArgmax2D", "MaxUnpooling2D", "Resampler")
)
_GPU_WARNING = re.compile(
    r"Subgraph#(\d+) has GPU delegate compatibility issues at nodes ([\d, ]+)"
)
_TENSOR_BYTES = {
    "FLOAT64": 8, "INT64": 8, "UINT64": 8, "COMPLEX64": 8, "COMPLEX128": 16,
    "FLOAT32": 4, "INT32": 4, "UINT32": 4,
    "FLOAT16": 2, "BFLOAT16": 2, "INT16": 2, "UINT16": 2,
}  # fmt: skip


def _schema():
    from ai_edge_litert import schema_py_generated as schema

    return schema


def _enum_names(enum: type) -> dict[int, str]:
    return {code: name for name, code in vars(enum).items() if name.isupper()}


def operator_names(content: bytes) -> list[list[str]]:
    """Each subgraph's operators in order: builtin names, custom codes (Flex ones included)."""
    schema = _schema()
    model = schema.Model.GetRootAsModel(content, 0)
    builtin_names = _enum_names(schema.BuiltinOperator)
    codes = []
    for i in range(model.OperatorCodesLength()):
        code = model.OperatorCodes(i)
        # Codes above 127 live only in the newer field; the deprecated one saturates.
        builtin = max(code.BuiltinCode(), code.DeprecatedBuiltinCode())
        if builtin == schema.BuiltinOperator.CUSTOM:
            codes.append((code.CustomCode() or b"").decode() or "CUSTOM")
        else:
            codes.append(builtin_names.get(builtin, str(builtin)))
    return [
        [codes[graph.Operators(j).OpcodeIndex()] for j in range(graph.OperatorsLength())]
        for graph in (model.Subgraphs(i) for i in range(model.SubgraphsLength()))
    ]


def _gpu_runs(name: str) -> bool:
    return name in GPU_BUILTINS or name in GPU_CUSTOM_OPS


def _analyzer_flags(content: bytes) -> set[tuple[int, int]] | None:
    """(subgraph, node) pairs the model analyzer's GPU check warns about; None if it can't run."""
    try:
        from ai_edge_litert import _pywrap_analyzer_wrapper as analyzer

        text = analyzer.ModelAnalyzer(content, False, True)
    except Exception:  # noqa: BLE001 - the analyzer is a second opinion, never a failure
        return None
    return {
        (int(graph), int(node))
        for graph, nodes in _GPU_WARNING.findall(text)
        for node in nodes.replace(" ", "").split(",")
        if node
    }


def _activation_bytes(content: bytes) -> int:
    """Bytes of the main subgraph's non-constant tensors, unknown dimensions taken as 1."""
    schema = _schema()
    model = schema.Model.GetRootAsModel(content, 0)
    type_names = _enum_names(schema.TensorType)
    graph = model.Subgraphs(0)
    total = 0
    for j in range(graph.TensorsLength()):
        tensor = graph.Tensors(j)
        buffer = model.Buffers(tensor.Buffer()) if tensor.Buffer() < model.BuffersLength() else None
        if buffer is not None and (buffer.DataLength() or buffer.Size()):
            continue  # a constant: its bytes are in the file, not in the arena
        dims = tensor.ShapeSignatureAsNumpy() if tensor.ShapeSignatureLength() else None
        if dims is None:
            dims = tensor.ShapeAsNumpy() if tensor.ShapeLength() else np.array([], np.int32)
        elements = int(np.prod([max(int(d), 1) for d in dims], dtype=np.int64))
        total += elements * _TENSOR_BYTES.get(type_names.get(tensor.Type(), ""), 1)
    return total


def tflite_report(content: bytes) -> dict[str, Any]:
    """Operators by kind, Flex and custom ops, GPU-delegate fallbacks and tensor memory."""
    graphs = operator_names(content)
    counts = collections.Counter(name for ops in graphs for name in ops)
    flex = sorted(n.removeprefix(FLEX_PREFIX) for n in counts if n.startswith(FLEX_PREFIX))
    custom = sorted(n for n in counts if n not in _enum_names(_schema().BuiltinOperator).values())
    flagged = _analyzer_flags(content)
    fallbacks = collections.Counter(
        name
        for g, ops in enumerate(graphs)
        for n, name in enumerate(ops)
        if not _gpu_runs(name) or (g, n) in (flagged or ())
    )
    return {
        "operators": dict(sorted(counts.items())),
        "custom_ops": [n for n in custom if not n.startswith(FLEX_PREFIX)],
        "flex_ops": flex,
        "gpu_delegate": {
            "fallback_ops": dict(sorted(fallbacks.items())),
            "fallback_nodes": sum(fallbacks.values()),
            "nodes": sum(counts.values()),
            "checked": "operator kinds against the GPU delegate's kernels"
            + ("" if flagged is None else ", and the TFLite model analyzer's GPU check"),
        },
        "tensor_arena": {
            "bytes_at_most": _activation_bytes(content),
            "how": "the non-constant tensors of the main subgraph at batch 1, added up; the "
            "arena planner lets tensors share memory, so the arena is at most this",
        },
    }
