"""Frozen graphs: variables folded into constants, pruned to named inputs and outputs.

Every graph-shaped route goes through a FrozenGraph whose placeholder and output node names
are the source's own input/output names where TensorFlow allows it, so a frozen .pb, the
SavedModel and the TFLite file built from it all speak the source's names.
"""

from __future__ import annotations

import copy
import keyword
from dataclasses import dataclass, field, replace

import tensorflow as tf
from tensorflow.core.framework import graph_pb2
from tensorflow.python.framework import convert_to_constants

from registry.convert import graphs
from registry.convert.contract import ConversionError
from registry.convert.control_inputs import ConstantInput
from registry.convert.signatures import Endpoint, shape_list


@dataclass
class FrozenGraph:
    """A GraphDef without variables; endpoint `.tensor` names point into it."""

    graph_def: graph_pb2.GraphDef
    inputs: list[Endpoint]
    outputs: list[Endpoint]
    # Source input name -> the name it has here, for inputs renamed (Python keywords).
    renamed_inputs: dict[str, str] = field(default_factory=dict)

    def copy(self) -> FrozenGraph:
        graph_def = graph_pb2.GraphDef()
        graph_def.CopyFrom(self.graph_def)
        return FrozenGraph(
            graph_def,
            [copy.copy(e) for e in self.inputs],
            [copy.copy(e) for e in self.outputs],
            dict(self.renamed_inputs),
        )


def _dtype_enum(name: str) -> int:
    return tf.as_dtype(name).as_datatype_enum


def name_endpoints(frozen: FrozenGraph) -> FrozenGraph:
    """Rename placeholders and add Identity outputs so node names equal the endpoint names.

    A name TF rejects as a node name (`x y`, `split:1`) or one already taken by another node
    keeps the graph's own node; the endpoint's `.tensor` always says where it is.
    """
    graph_def = frozen.graph_def
    for endpoint in frozen.inputs:
        node = graphs.node_of(endpoint.tensor)
        wanted = graphs.legal_node_name(endpoint.name)
        if node != wanted and wanted not in graphs.nodes_by_name(graph_def):
            graphs.rename_node(graph_def, node, wanted)
            for other in frozen.outputs:
                if graphs.node_of(other.tensor) == node:
                    other.tensor = other.tensor.replace(node, wanted, 1)
            node = wanted
        endpoint.tensor = f"{node}:0"
    for endpoint in frozen.outputs:
        wanted = graphs.legal_node_name(endpoint.name)
        if graphs.tensor_name(endpoint.tensor) == f"{wanted}:0":
            continue
        if wanted not in graphs.nodes_by_name(graph_def):
            graphs.add_identity(graph_def, wanted, endpoint.tensor, _dtype_enum(endpoint.dtype))
            endpoint.tensor = f"{wanted}:0"
    return frozen


def freeze_session(
    session: tf.compat.v1.Session,
    graph_def: graph_pb2.GraphDef,
    inputs: list[Endpoint],
    outputs: list[Endpoint],
) -> FrozenGraph:
    """Freeze a TF1 session's graph to `outputs`, with `inputs` as its placeholders.

    The private `convert_variables_to_constants_from_session_graph` is what the deprecated
    v1 `convert_variables_to_constants` calls, without its deprecation logging.
    """
    output_nodes = sorted({graphs.node_of(o.tensor) for o in outputs})
    check_freezable_size(graph_def)
    frozen_def = convert_to_constants.convert_variables_to_constants_from_session_graph(
        session, graph_def, output_nodes
    )
    return prune_graph(frozen_def, inputs, outputs)


# One serialized protobuf message (a GraphDef, so a frozen graph) holds at most 2 GiB.
PROTOBUF_LIMIT_BYTES = 2**31 - 1
VARIABLE_OPS = frozenset({"VariableV2", "Variable", "VarHandleOp"})


def check_freezable_size(graph_def: graph_pb2.GraphDef, limit: int = PROTOBUF_LIMIT_BYTES) -> None:
    """Refuse, before TensorFlow tries, a graph whose variables turned into constants would not
    fit in one GraphDef: protobuf cannot write one, and TensorFlow fails deep inside."""
    weights = sum(_variable_bytes(node) for node in graph_def.node if node.op in VARIABLE_OPS)
    total = graph_def.ByteSize() + weights
    if total > limit:
        raise ConversionError(
            f"the frozen graph would be {total / 2**30:.2f} GiB (its variables become constants "
            f"in one GraphDef), over protobuf's {limit / 2**30:.0f} GiB limit for a single "
            "message: this model cannot be a frozen graph or built from one; upload it as a "
            "SavedModel, which keeps its weights beside the graph"
        )


def _variable_bytes(node) -> int:
    dims = [d.size for d in node.attr["shape"].shape.dim]
    if any(size < 0 for size in dims):
        return 0  # an unknown dimension: nothing to count before the restore
    count = 1
    for size in dims:
        count *= size
    return count * tf.dtypes.as_dtype(node.attr["dtype"].type).size


def prune_graph(
    graph_def: graph_pb2.GraphDef, inputs: list[Endpoint], outputs: list[Endpoint]
) -> FrozenGraph:
    """Keep only what computes `outputs` from `inputs`; inner input nodes become placeholders."""
    output_nodes = sorted({graphs.node_of(o.tensor) for o in outputs})
    pruned = graph_pb2.GraphDef()
    pruned.CopyFrom(graph_def)
    by_name = graphs.nodes_by_name(pruned)
    for endpoint in inputs:
        node = by_name.get(graphs.node_of(endpoint.tensor))
        if node is not None and node.op not in graphs.PLACEHOLDER_OPS:
            # input_nodes named an inner node: feed it directly and drop what computed it.
            graphs.replace_with_placeholder(
                pruned, node.name, _dtype_enum(endpoint.dtype), endpoint.shape
            )
    pruned = tf.compat.v1.graph_util.extract_sub_graph(pruned, output_nodes)
    frozen = FrozenGraph(pruned, [copy.copy(e) for e in inputs], [copy.copy(e) for e in outputs])
    return name_endpoints(frozen)


def freeze_concrete_function(function, input_names: dict[str, str] | None = None) -> FrozenGraph:
    """Freeze a dict-returning concrete function (a SavedModel signature, a Keras serve fn).

    Outputs are named by the dict keys (TF flattens a dict in sorted key order); inputs by
    their TensorSpec names, or `input_names` mapping spec names to the names to expose.
    """
    frozen_fn = convert_to_constants.convert_variables_to_constants_v2(function)
    structured = function.structured_outputs
    keys = sorted(structured) if isinstance(structured, dict) else None
    if keys is None:
        flat = tf.nest.flatten(structured)
        keys = [f"output_{i}" for i in range(len(flat))]
    outputs = [
        Endpoint(key, t.dtype.name, shape_list(t.shape), t.name)
        for key, t in zip(keys, frozen_fn.outputs, strict=True)
    ]
    specs = {
        spec.name: key
        for key, spec in _flat_input_specs(function.structured_input_signature)
        if spec.name
    }
    inputs = []
    for t in frozen_fn.inputs:
        op_name = t.name.split(":")[0]
        name = specs.get(op_name, op_name)
        if input_names:
            name = input_names.get(name, name)
        inputs.append(Endpoint(name, t.dtype.name, shape_list(t.shape), t.name))
    graph_def = frozen_fn.graph.as_graph_def()
    return name_endpoints(FrozenGraph(graph_def, inputs, outputs))


def _flat_input_specs(signature) -> list[tuple[str, tf.TensorSpec]]:
    args, kwargs = signature
    flat = [(spec.name or f"input_{i}", spec) for i, spec in enumerate(tf.nest.flatten(args))]
    flat += [(key, spec) for key, spec in sorted(kwargs.items())]
    return flat


def safe_input_name(name: str, taken: set[str]) -> str:
    """`name` if a TF2 signature accepts it as a keyword argument, else `name_`.

    TF2 signatures become Python parameters: `in`, `class` or `None` break saving and
    loading (docs/conversion.md §3), so such inputs are renamed and the mapping recorded.
    """
    if not keyword.iskeyword(name):
        return name
    new = f"{name}_"
    while new in taken:
        new += "_"
    return new


def with_safe_input_names(frozen: FrozenGraph) -> FrozenGraph:
    """A copy whose Python-keyword inputs are renamed, with `renamed_inputs` filled in."""
    result = frozen.copy()
    taken = {n.name for n in result.graph_def.node}
    for endpoint in result.inputs:
        new = safe_input_name(endpoint.name, taken)
        if new == endpoint.name:
            continue
        node = graphs.node_of(endpoint.tensor)
        graphs.rename_node(result.graph_def, node, new)
        taken.add(new)
        result.renamed_inputs[endpoint.name] = new
        endpoint.tensor = f"{new}:0"
    return result


def with_constants(frozen: FrozenGraph, constants: list[ConstantInput]) -> FrozenGraph:
    """A copy whose constant-fed placeholders are Const nodes holding their values.

    The placeholder keeps its name, so what consumed it now reads the constant; it is no
    longer an input.
    """
    if not constants:
        return frozen
    result = frozen.copy()
    by_name = graphs.nodes_by_name(result.graph_def)
    endpoints = {e.name: e for e in result.inputs}
    for constant in constants:
        endpoint = endpoints.get(constant.endpoint.name, constant.endpoint)
        node = by_name.get(graphs.node_of(endpoint.tensor))
        if node is None:
            continue  # pruned away: the outputs do not depend on it
        node.op = "Const"
        del node.input[:]
        node.attr.clear()
        node.attr["dtype"].type = _dtype_enum(constant.endpoint.dtype)
        node.attr["value"].tensor.CopyFrom(tf.make_tensor_proto(constant.value))
    names = {c.endpoint.name for c in constants}
    result.inputs = [e for e in result.inputs if e.name not in names]
    return result


def with_input_shapes(frozen: FrozenGraph, input_shapes: dict[str, list[int]]) -> FrozenGraph:
    """A copy whose placeholders have the static shapes given by option input_shapes."""
    result = frozen.copy()
    known = {e.name: e for e in result.inputs}
    for name, dims in input_shapes.items():
        endpoint = known.get(name)
        if endpoint is None:
            raise ConversionError(
                f"input_shapes names {name!r}, which is not an input; inputs: {', '.join(known)}"
            )
        graphs.set_placeholder_shape(result.graph_def, graphs.node_of(endpoint.tensor), list(dims))
        known[name] = replace(endpoint, shape=list(dims))
    result.inputs = [known[e.name] for e in result.inputs]
    return result
