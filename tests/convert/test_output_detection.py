"""Finding a graph's outputs and rejecting hostile function libraries, on GraphDefs alone."""

from __future__ import annotations

import base64

import pytest
import tensorflow as tf

from registry.convert.contract import ConversionError
from registry.convert.graphs import check_function_recursion, detect_outputs
from registry.testing.tf_samples import RECURSIVE_GRAPHDEF_B64

v1 = tf.compat.v1


def graph_def_of(build) -> tf.compat.v1.GraphDef:
    graph = tf.Graph()
    with graph.as_default():
        build()
    return graph.as_graph_def()


def test_sibling_heads_in_one_scope_are_all_outputs():
    def build():
        x = v1.placeholder(tf.float32, [None, 3], name="x")
        with tf.name_scope("head"):
            tf.identity(x * 2.0, name="logits")
            tf.nn.sigmoid(x, name="probs")

    assert detect_outputs(graph_def_of(build)) == ["head/logits", "head/probs"]


def test_nodes_that_do_not_depend_on_inputs_are_not_outputs():
    def build():
        x = v1.placeholder(tf.float32, [None, 3], name="x")
        tf.nn.softmax(x, name="probs")
        tf.add(tf.constant(1.0), 2.0, name="stray")
        v1.train.get_or_create_global_step()

    assert detect_outputs(graph_def_of(build)) == ["probs"]


def test_training_graph_asks_for_output_nodes_and_suggests_likely_ones():
    def build():
        x = v1.placeholder(tf.float32, [None, 3], name="x")
        labels = v1.placeholder(tf.float32, [None, 1], name="labels")
        with v1.variable_scope("mlp"):
            w = v1.get_variable("w", [3, 1])
            score = tf.nn.sigmoid(tf.matmul(x, w), name="score")
        loss = tf.reduce_mean(tf.square(score - labels))
        v1.train.GradientDescentOptimizer(0.1).minimize(loss)

    with pytest.raises(ConversionError) as error:
        detect_outputs(graph_def_of(build))

    assert "training graph" in str(error.value)
    assert "mlp/score" in str(error.value)


def test_self_recursive_function_library_is_rejected():
    graph_def = tf.compat.v1.GraphDef()
    graph_def.ParseFromString(base64.b64decode(RECURSIVE_GRAPHDEF_B64))

    with pytest.raises(ConversionError, match=r"recursive call \(rec -> rec\)"):
        check_function_recursion(graph_def)


def test_mutually_recursive_functions_are_rejected():
    graph_def = tf.compat.v1.GraphDef()
    for name, callee in (("ping", "pong"), ("pong", "ping")):
        function = graph_def.library.function.add()
        function.signature.name = name
        node = function.node_def.add()
        node.name = "call"
        node.op = "PartitionedCall"
        node.attr["f"].func.name = callee

    with pytest.raises(ConversionError, match=r"ping -> pong -> ping"):
        check_function_recursion(graph_def)
