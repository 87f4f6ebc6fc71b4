"""Uploads that are TF1 graphs: a graph checkpoint (.meta + .index + .data) and a frozen .pb.

Both name their inputs and outputs by node names; outputs are given (option output_nodes)
or detected (outputs.detect_outputs), inputs are given (input_nodes) or are the placeholders
the outputs depend on.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import tensorflow as tf
from tensorflow.core.framework import graph_pb2
from tensorflow.core.protobuf import meta_graph_pb2

from registry.convert import graphs, locate
from registry.convert.contract import ConversionError
from registry.convert.control_inputs import (
    ConstantInput,
    constants_used,
    split_constant_inputs,
)
from registry.convert.failures import explain
from registry.convert.freezing import FrozenGraph, freeze_session, prune_graph, with_constants
from registry.convert.outputs import detect_outputs
from registry.convert.runners import SessionRunner
from registry.convert.signatures import Endpoint, signature_dict, tensor_endpoint

v1 = tf.compat.v1


def parse_proto(message, path: Path, what: str):
    """Parse a binary proto file; random bytes get 'file is not a valid ...'."""
    try:
        message.ParseFromString(path.read_bytes())
    except Exception as exc:  # google.protobuf DecodeError, or RuntimeWarning-ish failures
        raise ConversionError(f"{path.name} is not a valid {what}: {exc}") from None
    return message


def _endpoint_name(name: str) -> str:
    # `head/probs:0` and `head/probs` are the same output; `split:1` stays as written.
    return name[:-2] if name.endswith(":0") else name


def resolve_endpoints(
    graph: tf.Graph, graph_def, options: dict[str, Any], collection_keys=()
) -> tuple[list[Endpoint], list[Endpoint], list[ConstantInput], dict[str, Any]]:
    """Inputs, outputs and constant-fed inputs of an imported graph, and the options used.

    Inputs and outputs come from the options or are found in the graph; option
    input_constants takes inputs out of the data inputs (control_inputs.py).
    """
    output_names = options.get("output_nodes")
    inferred = None
    if output_names:
        graphs.require_nodes(graph_def, output_names, "output node")
        output_names = [_endpoint_name(n) for n in output_names]
    else:
        inferred = detect_outputs(graph_def, collection_keys)
        output_names = inferred.nodes
    input_names = options.get("input_nodes")
    if input_names:
        graphs.require_nodes(graph_def, input_names, "input node")
        input_names = [_endpoint_name(n) for n in input_names]
    else:
        needed = graphs.ancestors(graph_def, output_names)
        input_names = graphs.placeholders(graph_def, among=needed)
    training_ops = [
        n
        for n in output_names
        if graphs.nodes_by_name(graph_def)[graphs.node_of(n)].op.startswith(
            ("Apply", "ResourceApply", "Assign", "NoOp", "Save", "Restore")
        )
    ]
    if training_ops:
        raise ConversionError(
            f"output node(s) {', '.join(training_ops)} are training or bookkeeping ops, not model "
            "outputs; pass the nodes that compute the model's predictions"
        )

    def endpoint(name: str) -> Endpoint:
        try:
            return tensor_endpoint(name, graph.get_tensor_by_name(graphs.tensor_name(name)))
        except (KeyError, ValueError) as exc:
            raise ConversionError(f"{name!r} has no such output tensor: {exc}") from None

    inputs, constants = split_constant_inputs([endpoint(n) for n in input_names], options)
    outputs = [endpoint(n) for n in output_names]
    used: dict[str, Any] = {"output_nodes": output_names, "input_nodes": [e.name for e in inputs]}
    if inferred is not None:
        used["outputs_inferred"] = inferred.how
    if constants:
        used["input_constants"] = constants_used(constants)
    return inputs, outputs, constants, used


class CheckpointSource:
    """A TF1 graph checkpoint; the restore happens only when values are needed."""

    kind = "checkpoint"

    def __init__(self, path: str | Path, options: dict[str, Any], guard: bool = True):
        self.prefix = locate.find_checkpoint_prefix(path)
        locate.check_checkpoint_shards(self.prefix)
        meta_path = Path(f"{self.prefix}.meta")
        self.meta_graph = parse_proto(meta_graph_pb2.MetaGraphDef(), meta_path, "MetaGraphDef")
        graph_def = self.meta_graph.graph_def
        if not graph_def.node:
            raise ConversionError(f"{meta_path.name} holds an empty graph")
        if guard:
            graphs.check_function_recursion(graph_def, f"{meta_path.name}'s graph")
        self.graph = tf.Graph()
        try:
            with self.graph.as_default():
                self.saver = v1.train.import_meta_graph(self.meta_graph, clear_devices=True)
        except Exception as exc:
            raise explain(exc, "importing the checkpoint's graph") from None
        # The imported graph is the reference for names (import may add nothing, but be exact).
        self.graph_def = self.graph.as_graph_def()
        collections = list(self.meta_graph.collection_def)
        self.inputs, self.outputs, self.constants, self.options_used = resolve_endpoints(
            self.graph, self.graph_def, options, collections
        )
        self.signature = signature_dict(self.inputs, self.outputs, checkpoint=self.prefix.name)
        self._session = None

    def session(self):
        if self._session is None:
            session = v1.Session(graph=self.graph)
            try:
                # Outside as_default() the restore takes the eager path ("No variables to save").
                with self.graph.as_default():
                    if self.saver is not None:
                        self.saver.restore(session, str(self.prefix))
            except Exception as exc:
                session.close()
                raise explain(exc, "restoring the checkpoint") from None
            self._session = session
        return self._session

    def runner(self) -> SessionRunner:
        return SessionRunner(self.graph, self.session(), self.inputs, self.outputs, self.constants)

    def frozen(self) -> FrozenGraph:
        try:
            frozen = freeze_session(self.session(), self.graph_def, self.inputs, self.outputs)
            return with_constants(frozen, self.constants)
        except ConversionError:
            raise
        except Exception as exc:
            raise explain(exc, "freezing the checkpoint") from None

    def close(self) -> None:
        if self._session is not None:
            self._session.close()


class GraphSource:
    """A frozen GraphDef file."""

    kind = "frozen_pb"
    # Needs none of its files once loaded, so a converter process may keep it (source_cache).
    self_contained = True

    def __init__(self, path: str | Path, options: dict[str, Any], guard: bool = True):
        self.path = locate.find_model_file(path, (".pb",), "frozen GraphDef (.pb)")
        graph_def = parse_proto(graph_pb2.GraphDef(), self.path, "GraphDef")
        if not graph_def.node:
            raise ConversionError(f"{self.path.name} is not a GraphDef with nodes (it is empty)")
        if guard:
            graphs.check_function_recursion(graph_def, self.path.name)
        variables = [n.name for n in graph_def.node if n.op in graphs.VARIABLE_OPS]
        if variables:
            raise ConversionError(
                f"{self.path.name} still has variables ({', '.join(variables[:3])}): it is not a "
                "frozen graph. Upload the checkpoint (.meta, .index, .data) instead"
            )
        self.graph = tf.Graph()
        try:
            with self.graph.as_default():
                tf.graph_util.import_graph_def(graph_def, name="")
        except Exception as exc:
            raise explain(exc, f"importing {self.path.name}") from None
        self.graph_def = graph_def
        self.inputs, self.outputs, self.constants, self.options_used = resolve_endpoints(
            self.graph, graph_def, options
        )
        self.signature = signature_dict(self.inputs, self.outputs)
        self._session = None

    def runner(self) -> SessionRunner:
        if self._session is None:
            self._session = v1.Session(graph=self.graph)
        return SessionRunner(self.graph, self._session, self.inputs, self.outputs, self.constants)

    def frozen(self) -> FrozenGraph:
        return with_constants(
            prune_graph(self.graph_def, self.inputs, self.outputs), self.constants
        )

    def close(self) -> None:
        if self._session is not None:
            self._session.close()
