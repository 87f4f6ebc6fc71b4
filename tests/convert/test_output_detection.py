"""Finding a graph's outputs and rejecting hostile function libraries, on GraphDefs alone."""

from __future__ import annotations

import base64

import pytest
import tensorflow as tf

from registry.convert.contract import ConversionError
from registry.convert.graphs import check_function_recursion
from registry.convert.outputs import detect_outputs
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

    assert detect_outputs(graph_def_of(build)).nodes == ["head/logits", "head/probs"]


def test_nodes_that_do_not_depend_on_inputs_are_not_outputs():
    def build():
        x = v1.placeholder(tf.float32, [None, 3], name="x")
        tf.nn.softmax(x, name="probs")
        tf.add(tf.constant(1.0), 2.0, name="stray")
        v1.train.get_or_create_global_step()

    assert detect_outputs(graph_def_of(build)).nodes == ["probs"]


def training_graph(loss_of, heads=("score",)):
    """x -> mlp/<head> per head, a loss of the heads and `labels`, and an optimizer."""

    def build():
        x = v1.placeholder(tf.float32, [None, 3], name="x")
        labels = v1.placeholder(tf.int32, [None], name="labels")
        with v1.variable_scope("mlp"):
            w = v1.get_variable("w", [3, 4])
            outputs = [
                tf.identity(tf.matmul(x, w) * (i + 1.0), name=h) for i, h in enumerate(heads)
            ]
        loss = loss_of(x, labels, outputs)
        v1.train.AdamOptimizer(0.1).minimize(loss)

    return graph_def_of(build)


def squared_error(x, labels, outputs):
    target = tf.cast(tf.expand_dims(labels, 1), tf.float32)
    (score,) = outputs
    v1.metrics.accuracy(labels, tf.argmax(score, 1))  # a metric beside the loss
    return tf.reduce_mean(tf.square(tf.nn.sigmoid(score, name="probability") - target), name="loss")


def softmax_cross_entropy(x, labels, outputs):
    # The loss function reshapes the logits itself; the labels are one-hot encoded first.
    return tf.reduce_mean(
        tf.nn.softmax_cross_entropy_with_logits(labels=tf.one_hot(labels, 4), logits=outputs[0])
    )


def test_training_graph_output_is_what_feeds_the_loss_besides_the_labels():
    found = detect_outputs(training_graph(squared_error))

    assert found.nodes == ["probability"]
    assert "feeds the loss loss" in found.how
    assert "label placeholders: labels" in found.how


def test_training_graph_logits_are_found_through_the_loss_functions_own_reshape():
    assert detect_outputs(training_graph(softmax_cross_entropy)).nodes == ["mlp/score"]


def test_training_graph_with_several_tensors_feeding_the_loss_names_them_all():
    def two_heads(x, labels, outputs):
        target = tf.cast(tf.expand_dims(labels, 1), tf.float32)
        return sum(tf.reduce_mean(tf.square(head - target)) for head in outputs)

    with pytest.raises(ConversionError) as error:
        detect_outputs(training_graph(two_heads, heads=("a", "b")))

    assert "training graph" in str(error.value)
    assert "output_nodes=mlp/a,mlp/b" in str(error.value)


def test_training_graph_without_labels_asks_for_output_nodes_and_suggests_likely_ones():
    def reconstruction(x, labels, outputs):
        return tf.reduce_mean(tf.square(outputs[0][:, :3] - x))

    with pytest.raises(ConversionError) as error:
        detect_outputs(training_graph(reconstruction))

    assert "training graph" in str(error.value)
    assert "Likely outputs: mlp/score" in str(error.value)


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
