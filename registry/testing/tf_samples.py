"""Small sample models of every uploadable kind, built on demand into a directory.

Plain functions, no pytest: the convert tests use them through session fixtures and the
integration tests upload what they write. Each builder imports TensorFlow lazily, runs in a
fraction of a second once TF is imported, and returns a `Sample`: where the model is, what
its inputs and outputs are called, and the source's own outputs for `sample.inputs` (computed
while building, so a test can compare a converted variant against them without the converter).
"""

from __future__ import annotations

import base64
import functools
import os
import warnings
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")

# Images per batch-norm statistics pass: with fewer, late layers (1x1 spatially at small
# input sizes) get noisy variances and the network turns chaotic.
STATISTICS_BATCH = 32

# A GraphDef whose function library holds a self-recursive function `rec`, called by node
# `y`: importing it segfaults TensorFlow 2.21 (docs/conversion.md §9).
RECURSIVE_GRAPHDEF_B64 = (
    "Ci4KAXgSC1BsYWNlaG9sZGVyKg8KBXNoYXBlEgY6BBICCAQqCwoFZHR5cGUSAjABCgsKAXkSA3JlYxoBeBI2CjQKEwoD"
    "cmVjEgUKAXgYARoFCgF5GAEaDgoEY2FsbBIDcmVjGgF4Ig0KAXkSCGNhbGw6eTowIgMIiA4="
)


@dataclass
class Sample:
    """A built sample: `path` is what a user would upload (a file or a directory)."""

    kind: str
    path: Path
    input_names: list[str] = field(default_factory=list)
    output_names: list[str] = field(default_factory=list)
    # Input arrays keyed by input name, and the source model's outputs for them.
    inputs: dict[str, np.ndarray] = field(default_factory=dict)
    expected: dict[str, np.ndarray] = field(default_factory=dict)
    options: dict[str, Any] = field(default_factory=dict)
    extra: dict[str, Any] = field(default_factory=dict)


def _tf():
    import tensorflow as tf

    return tf


def _rng(seed: int = 1) -> np.random.Generator:
    return np.random.default_rng(seed)


def build_tf1_checkpoint(directory: str | Path, step: int = 100) -> Sample:
    """A TF1 graph checkpoint of a 2-output CNN, written as `train/model.ckpt-STEP.*`.

    images[?,16,16,2] -> conv/ -> head/logits (Identity) -> head/probs (Softmax). It has a
    global_step, an init op and a Saver, like a real training run's checkpoint, plus a
    `checkpoint` state file holding an absolute path (as TF writes it).
    """
    tf = _tf()
    v1 = tf.compat.v1
    ckpt_dir = Path(directory) / "train"
    ckpt_dir.mkdir(parents=True, exist_ok=True)
    x = _rng(1).standard_normal((3, 16, 16, 2)).astype(np.float32)
    graph = tf.Graph()
    with graph.as_default():
        images = v1.placeholder(tf.float32, [None, 16, 16, 2], name="images")
        global_step = v1.train.get_or_create_global_step()
        init = v1.glorot_uniform_initializer(seed=3)
        with v1.variable_scope("conv"):
            kernel = v1.get_variable("kernel", [3, 3, 2, 4], initializer=init)
            bias = v1.get_variable("bias", [4], initializer=v1.constant_initializer(0.1))
            conv = tf.nn.relu(tf.nn.conv2d(images, kernel, [1, 2, 2, 1], "SAME") + bias)
            pooled = tf.reduce_mean(conv, axis=[1, 2])
        with v1.variable_scope("head"):
            w = v1.get_variable("w", [4, 3], initializer=init)
            b = v1.get_variable("b", [3], initializer=v1.constant_initializer(0.2))
            logits = tf.identity(tf.matmul(pooled, w) + b, name="logits")
            probs = tf.nn.softmax(logits, name="probs")
        init_op = v1.global_variables_initializer()
        saver = v1.train.Saver()
        with v1.Session(graph=graph) as sess:
            sess.run(init_op)
            sess.run(global_step.assign(step))
            saver.save(sess, str(ckpt_dir / "model.ckpt"), global_step=step)
            out_logits, out_probs = sess.run([logits, probs], {images: x})
    return Sample(
        kind="checkpoint",
        path=Path(directory),
        input_names=["images"],
        output_names=["head/logits", "head/probs"],
        inputs={"images": x},
        expected={"head/logits": out_logits, "head/probs": out_probs},
        options={"output_nodes": ["head/logits", "head/probs"]},
        extra={"prefix": ckpt_dir / f"model.ckpt-{step}"},
    )


def build_keras_model(directory: str | Path, *, with_vec: bool = True) -> Sample:
    """A functional Keras model with inputs img, vec and outputs score, cls, as .keras and .h5.

    The dense layer has 2,048 weights so that dynamic-range int8 quantization really
    quantizes something (TFLite leaves tensors under 1,024 elements in float). Without
    `with_vec`, the same model without its `vec` input: a next version that drops an input.
    """
    import keras

    directory = Path(directory)
    directory.mkdir(parents=True, exist_ok=True)
    keras.utils.set_random_seed(7)
    img = keras.Input((8, 8, 3), name="img")
    vec = keras.Input((4,), name="vec")
    h = keras.layers.Conv2D(4, 3, activation="relu", name="conv")(img)
    h = keras.layers.GlobalAveragePooling2D(name="pool")(h)
    if with_vec:
        h = keras.layers.Concatenate(name="join")([h, vec])
    h = keras.layers.Dense(64, activation="relu", name="hidden")(h)
    h = keras.layers.Dense(32, activation="relu", name="wide")(h)
    score = keras.layers.Dense(1, activation="sigmoid", name="score")(h)
    cls = keras.layers.Dense(5, activation="softmax", name="cls")(h)
    model = keras.Model([img, vec] if with_vec else [img], [score, cls], name="two_by_two")
    keras_path = directory / "two_by_two.keras"
    h5_path = directory / "two_by_two.h5"
    _save_keras(model, keras_path)
    _save_keras(model, h5_path)
    rng = _rng(2)
    inputs = {
        "img": rng.standard_normal((3, 8, 8, 3)).astype(np.float32),
        "vec": rng.standard_normal((3, 4)).astype(np.float32),
    }
    if not with_vec:
        del inputs["vec"]
    out_score, out_cls = model(list(inputs.values()), training=False)
    return Sample(
        kind="keras",
        path=keras_path,
        input_names=list(inputs),
        output_names=["score", "cls"],
        inputs=inputs,
        expected={"score": out_score.numpy(), "cls": out_cls.numpy()},
        extra={"h5_path": h5_path},
    )


def build_tf1_savedmodel(directory: str | Path) -> Sample:
    """A TF1 Builder SavedModel under `export/`, tag `myTag`, signatures `predict` and `embed`.

    Inputs: features float32[?,4] and ids int32[?,3] (an embedding lookup over 10 rows, so
    small non-negative random ints are valid ids). No `serving_default` signature.
    """
    tf = _tf()
    v1 = tf.compat.v1
    export_dir = Path(directory) / "export"
    rng = _rng(3)
    inputs = {
        "features": rng.standard_normal((3, 4)).astype(np.float32),
        "ids": rng.integers(0, 10, (3, 3)).astype(np.int32),
    }
    graph = tf.Graph()
    with graph.as_default():
        features = v1.placeholder(tf.float32, [None, 4], name="features")
        ids = v1.placeholder(tf.int32, [None, 3], name="ids")
        init = v1.glorot_uniform_initializer(seed=5)
        table = v1.get_variable("embedding", [10, 4], initializer=init)
        w = v1.get_variable("w", [8, 2], initializer=init)
        embedded = tf.reduce_mean(tf.nn.embedding_lookup(table, ids), axis=1)
        joined = tf.concat([features, embedded], axis=1)
        score = tf.nn.tanh(tf.matmul(joined, w), name="score")
        with v1.Session(graph=graph) as sess:
            sess.run(v1.global_variables_initializer())
            predict = v1.saved_model.predict_signature_def(
                inputs={"features": features, "ids": ids}, outputs={"score": score}
            )
            embed = v1.saved_model.predict_signature_def(
                inputs={"ids": ids}, outputs={"embedded": embedded}
            )
            builder = v1.saved_model.Builder(str(export_dir))
            builder.add_meta_graph_and_variables(
                sess, ["myTag"], signature_def_map={"predict": predict, "embed": embed}
            )
            builder.save()
            out = sess.run(score, {features: inputs["features"], ids: inputs["ids"]})
    return Sample(
        kind="savedmodel",
        path=Path(directory),
        input_names=["features", "ids"],
        output_names=["score"],
        inputs=inputs,
        expected={"score": out},
        options={"signature_key": "predict", "tags": ["myTag"]},
        extra={"signature_keys": ["embed", "predict"], "export_dir": export_dir},
    )


def build_tf2_savedmodel(directory: str | Path) -> Sample:
    """A TF2 SavedModel (tf.Module) under `1/`, signatures serving_default and `scores`.

    serving_default maps x float32[?,6] to outputs `logits` and `top` (int64 argmax).
    """
    tf = _tf()
    export_dir = Path(directory) / "1"
    rng = _rng(4)

    class Scorer(tf.Module):
        def __init__(self) -> None:
            super().__init__()
            self.w = tf.Variable(rng.standard_normal((6, 40)).astype(np.float32), name="w")
            self.v = tf.Variable(rng.standard_normal((40, 3)).astype(np.float32), name="v")

        @tf.function(input_signature=[tf.TensorSpec([None, 6], tf.float32, name="x")])
        def serve(self, x):
            logits = tf.matmul(tf.nn.relu(tf.matmul(x, self.w)), self.v)
            return {"logits": logits, "top": tf.argmax(logits, axis=1)}

        @tf.function(input_signature=[tf.TensorSpec([None, 6], tf.float32, name="x")])
        def scores(self, x):
            return {"scores": tf.nn.sigmoid(tf.matmul(x, self.w))}

    module = Scorer()
    tf.saved_model.save(
        module,
        str(export_dir),
        signatures={"serving_default": module.serve, "scores": module.scores},
    )
    inputs = {"x": rng.standard_normal((3, 6)).astype(np.float32)}
    out = module.serve(tf.constant(inputs["x"]))
    return Sample(
        kind="savedmodel",
        path=Path(directory),
        input_names=["x"],
        output_names=["logits", "top"],
        inputs=inputs,
        expected={k: v.numpy() for k, v in out.items()},
        extra={"signature_keys": ["scores", "serving_default"], "export_dir": export_dir},
    )


def _write_graph(fn, path: Path, inputs: dict[str, np.ndarray], outputs: list[str]):
    """Build a TF1 graph with `fn`, write its GraphDef, and run it for the expected outputs."""
    tf = _tf()
    graph = tf.Graph()
    with graph.as_default():
        fn()
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(graph.as_graph_def().SerializeToString())
    with tf.compat.v1.Session(graph=graph) as sess:
        feed = {f"{k}:0": v for k, v in inputs.items()}
        values = sess.run([f"{o}:0" for o in outputs], feed) if inputs else []
    return dict(zip(outputs, values, strict=True))


def build_frozen_graph(directory: str | Path) -> Sample:
    """A frozen GraphDef whose input is called `in` (a Python keyword) -> block/out (Relu6)."""
    tf = _tf()
    v1 = tf.compat.v1
    path = Path(directory) / "relu6.pb"
    x = (_rng(5).standard_normal((3, 5)) * 4).astype(np.float32)
    w = _rng(6).standard_normal((5, 4)).astype(np.float32)

    def graph() -> None:
        inp = v1.placeholder(tf.float32, [None, 5], name="in")
        with tf.name_scope("block"):
            tf.nn.relu6(tf.matmul(inp, tf.constant(w)) + 1.0, name="out")

    expected = _write_graph(graph, path, {"in": x}, ["block/out"])
    return Sample(
        kind="frozen_pb",
        path=path,
        input_names=["in"],
        output_names=["block/out"],
        inputs={"in": x},
        expected=expected,
        # Named, as most uploads name them: finding outputs is the ambiguous and training
        # samples' part, and it adds a describe job before the conversions.
        options={"output_nodes": ["block/out"]},
    )


def build_small_tflite(directory: str | Path, seed: int = 7) -> Sample:
    """A TFLite flatbuffer of one small dense layer (~1 KB): what a `describe` job reads.
    Another `seed` gives other weights, so other bytes (profiled anew)."""
    tf = _tf()
    path = Path(directory) / "dense.tflite"
    path.parent.mkdir(parents=True, exist_ok=True)
    w = _rng(seed).standard_normal((4, 2)).astype(np.float32)

    module = tf.Module()
    module.dense = tf.function(
        lambda x: {"y": tf.matmul(x, tf.constant(w))},
        input_signature=[tf.TensorSpec([1, 4], tf.float32, name="x")],
    )
    converter = tf.lite.TFLiteConverter.from_concrete_functions(
        [module.dense.get_concrete_function()], module
    )
    path.write_bytes(converter.convert())
    x = _rng(8).standard_normal((1, 4)).astype(np.float32)
    return Sample(kind="tflite", path=path, input_names=["x"], output_names=["y"], inputs={"x": x})


def build_ambiguous_graph(directory: str | Path) -> Sample:
    """A frozen GraphDef with two unconsumed nodes in unrelated scopes: model/out, debug/mean."""
    tf = _tf()
    v1 = tf.compat.v1
    path = Path(directory) / "ambiguous.pb"
    x = _rng(7).standard_normal((2, 3)).astype(np.float32)

    def graph() -> None:
        inp = v1.placeholder(tf.float32, [None, 3], name="x")
        with tf.name_scope("model"):
            tf.nn.sigmoid(inp * 2.0, name="out")
        with tf.name_scope("debug"):
            tf.reduce_mean(inp, name="mean")

    expected = _write_graph(graph, path, {"x": x}, ["model/out", "debug/mean"])
    return Sample(
        kind="frozen_pb",
        path=path,
        input_names=["x"],
        output_names=["model/out", "debug/mean"],
        inputs={"x": x},
        expected=expected,
    )


def build_flex_graph(directory: str | Path) -> Sample:
    """A frozen GraphDef using MatrixInverse, which TFLite only has as a Select TF (Flex) op."""
    tf = _tf()
    v1 = tf.compat.v1
    path = Path(directory) / "inverse.pb"
    m = _rng(8).standard_normal((2, 3, 3)).astype(np.float32) + 3 * np.eye(3, dtype=np.float32)

    def graph() -> None:
        inp = v1.placeholder(tf.float32, [None, 3, 3], name="m")
        tf.identity(tf.linalg.inv(inp), name="inverse")

    expected = _write_graph(graph, path, {"m": m}, ["inverse"])
    return Sample(
        kind="frozen_pb",
        path=path,
        input_names=["m"],
        output_names=["inverse"],
        inputs={"m": m},
        expected=expected,
    )


def build_string_input_graph(directory: str | Path) -> Sample:
    """A frozen GraphDef with a string input (text -> StringToNumber -> doubled)."""
    tf = _tf()
    v1 = tf.compat.v1
    path = Path(directory) / "strings.pb"
    text = np.array([b"1.5", b"-2", b"4"], dtype=object)

    def graph() -> None:
        inp = v1.placeholder(tf.string, [None], name="text")
        tf.multiply(tf.strings.to_number(inp), 2.0, name="doubled")

    expected = _write_graph(graph, path, {"text": text}, ["doubled"])
    return Sample(
        kind="frozen_pb",
        path=path,
        input_names=["text"],
        output_names=["doubled"],
        inputs={"text": text},
        expected=expected,
    )


def build_recurrent_keras(directory: str | Path, layer: str = "LSTM") -> Sample:
    """seq[?,7,5] -> LSTM(8) (or GRU) -> Dense scores[?,3], as .keras.

    Its TFLite conversion at a dynamic batch needs tensor lists of unknown shape, which
    builtins cannot hold.
    """
    import keras

    directory = Path(directory)
    directory.mkdir(parents=True, exist_ok=True)
    keras.utils.set_random_seed(11)
    seq = keras.Input((7, 5), name="seq")
    hidden = getattr(keras.layers, layer)(8, name=layer.lower())(seq)
    scores = keras.layers.Dense(3, name="scores")(hidden)
    model = keras.Model(seq, scores)
    inputs = {"seq": _rng(12).standard_normal((3, 7, 5)).astype(np.float32)}
    return _keras_sample(model, directory / f"{layer.lower()}.keras", inputs)


def _save_keras(model, path: Path) -> None:
    with warnings.catch_warnings():
        # Keras' weight writers trip numpy 2's __array__(copy=) deprecation.
        warnings.simplefilter("ignore", DeprecationWarning)
        model.save(path)


def _keras_sample(model, path: Path, inputs: dict[str, np.ndarray], **extra: Any) -> Sample:
    """Save a Keras model to `path`; the Sample holds its outputs for `inputs`."""
    _save_keras(model, path)
    values = list(inputs.values())
    # A model built on a list of inputs wants a list, even of one.
    outputs = model(values if isinstance(model.input, list) else values[0], training=False)
    outputs = outputs if isinstance(outputs, list | tuple) else [outputs]
    return Sample(
        kind="keras",
        path=path,
        input_names=list(inputs),
        output_names=list(model.output_names),
        inputs=inputs,
        expected={n: o.numpy() for n, o in zip(model.output_names, outputs, strict=True)},
        extra=extra,
    )


def build_keep_prob_checkpoint(directory: str | Path) -> Sample:
    """A classic TF1 checkpoint with dropout fed by `keep_prob` (float, unknown rank).

    features[?,6] -> hidden (ReLU) -> dropout(keep_prob) -> out/logits. `expected` holds
    the outputs at keep_prob = 1.0, i.e. at inference.
    """
    tf = _tf()
    v1 = tf.compat.v1
    ckpt_dir = Path(directory) / "train"
    ckpt_dir.mkdir(parents=True, exist_ok=True)
    x = _rng(13).standard_normal((3, 6)).astype(np.float32)
    graph = tf.Graph()
    with graph.as_default():
        features = v1.placeholder(tf.float32, [None, 6], name="features")
        keep_prob = v1.placeholder(tf.float32, name="keep_prob")
        init = v1.glorot_uniform_initializer(seed=14)
        w1 = v1.get_variable("hidden/w", [6, 16], initializer=init)
        hidden = tf.nn.relu(tf.matmul(features, w1))
        dropped = tf.nn.dropout(hidden, rate=1.0 - keep_prob)
        w2 = v1.get_variable("out/w", [16, 3], initializer=init)
        logits = tf.identity(tf.matmul(dropped, w2), name="out/logits")
        saver = v1.train.Saver()
        with v1.Session(graph=graph) as sess:
            sess.run(v1.global_variables_initializer())
            saver.save(sess, str(ckpt_dir / "model.ckpt"))
            out = sess.run(logits, {features: x, keep_prob: 1.0})
    return Sample(
        kind="checkpoint",
        path=Path(directory),
        input_names=["features"],
        output_names=["out/logits"],
        inputs={"features": x},
        expected={"out/logits": out},
        options={"output_nodes": ["out/logits"]},
    )


def build_training_checkpoint(directory: str | Path) -> Sample:
    """A TF1 checkpoint saved mid-training: its graph still holds the loss and an optimizer.

    features[?,4] -> mlp/hidden (ReLU) -> mlp/score; loss: sparse softmax cross-entropy of
    mlp/score against the int `labels` placeholder, minimised by Adam (its slots saved too).
    No output_nodes in `options`: the output is to be found as what feeds the loss.
    """
    tf = _tf()
    v1 = tf.compat.v1
    ckpt_dir = Path(directory) / "train"
    ckpt_dir.mkdir(parents=True, exist_ok=True)
    x = _rng(21).standard_normal((3, 4)).astype(np.float32)
    graph = tf.Graph()
    with graph.as_default():
        features = v1.placeholder(tf.float32, [None, 4], name="features")
        labels = v1.placeholder(tf.int32, [None], name="labels")
        global_step = v1.train.get_or_create_global_step()
        init = v1.glorot_uniform_initializer(seed=22)
        with v1.variable_scope("mlp"):
            w1 = v1.get_variable("w1", [4, 8], initializer=init)
            w2 = v1.get_variable("w2", [8, 3], initializer=init)
            score = tf.identity(tf.matmul(tf.nn.relu(tf.matmul(features, w1)), w2), name="score")
        loss = v1.losses.sparse_softmax_cross_entropy(labels, score)
        train = v1.train.AdamOptimizer(0.01).minimize(loss, global_step=global_step)
        saver = v1.train.Saver()
        with v1.Session(graph=graph) as sess:
            sess.run(v1.global_variables_initializer())
            for _ in range(3):
                sess.run(train, {features: x, labels: [0, 1, 2]})
            saver.save(sess, str(ckpt_dir / "model.ckpt"), global_step=global_step)
            out = sess.run(score, {features: x})
    return Sample(
        kind="checkpoint",
        path=Path(directory),
        input_names=["features"],
        output_names=["mlp/score"],
        inputs={"features": x},
        expected={"mlp/score": out},
    )


def build_is_training_graph(directory: str | Path) -> Sample:
    """A frozen GraphDef switching dropout on a scalar bool placeholder `is_training`.

    images[?,4,4,1] -> flatten -> (dropout if is_training) -> probs (Softmax); `expected`
    holds the outputs with is_training = False.
    """
    tf = _tf()
    v1 = tf.compat.v1
    path = Path(directory) / "switch.pb"
    x = _rng(15).standard_normal((3, 4, 4, 1)).astype(np.float32)
    w = _rng(16).standard_normal((16, 5)).astype(np.float32)

    def graph() -> None:
        images = v1.placeholder(tf.float32, [None, 4, 4, 1], name="images")
        is_training = v1.placeholder(tf.bool, [], name="is_training")
        flat = tf.reshape(images, [-1, 16])
        kept = tf.cond(is_training, lambda: tf.nn.dropout(flat, rate=0.5), lambda: flat)
        tf.nn.softmax(tf.matmul(kept, tf.constant(w)), name="probs")

    expected = _write_graph(graph, path, {"images": x, "is_training": False}, ["probs"])
    return Sample(
        kind="frozen_pb",
        path=path,
        input_names=["images"],
        output_names=["probs"],
        inputs={"images": x},
        expected=expected,
    )


def serialized_examples(rows: np.ndarray) -> np.ndarray:
    """tf.train.Example protos with float feature `x`, as a fixed-width bytes array.

    numpy's fixed-width bytes drop trailing NUL bytes, which a serialized float ending in
    0x00 would have: the values here are never 0.
    """
    tf = _tf()
    protos = [
        tf.train.Example(
            features=tf.train.Features(
                feature={"x": tf.train.Feature(float_list=tf.train.FloatList(value=row))}
            )
        ).SerializeToString()
        for row in rows
    ]
    return np.array(protos, dtype=f"S{max(len(p) for p in protos)}")


def build_example_parsing_savedmodel(directory: str | Path) -> Sample:
    """An Estimator-style export: serving_default takes serialized tf.Example strings.

    examples string[?] -> ParseExample (x: float[4]) -> score (Sigmoid), TF1 Builder.
    `extra["example_inputs"]` is an .npz with a fixed-width bytes array for `examples`.
    """
    tf = _tf()
    v1 = tf.compat.v1
    export_dir = Path(directory) / "export"
    rows = _rng(17).uniform(0.5, 2.0, (3, 4)).astype(np.float32)
    examples = serialized_examples(rows)
    graph = tf.Graph()
    with graph.as_default():
        serialized = v1.placeholder(tf.string, [None], name="input_example_tensor")
        parsed = v1.io.parse_example(serialized, {"x": v1.io.FixedLenFeature([4], tf.float32)})
        w = v1.get_variable("w", [4, 1], initializer=v1.glorot_uniform_initializer(seed=18))
        score = tf.nn.sigmoid(tf.matmul(parsed["x"], w), name="score")
        with v1.Session(graph=graph) as sess:
            sess.run(v1.global_variables_initializer())
            signature = v1.saved_model.predict_signature_def(
                inputs={"examples": serialized}, outputs={"score": score}
            )
            builder = v1.saved_model.Builder(str(export_dir))
            builder.add_meta_graph_and_variables(
                sess, ["serve"], signature_def_map={"serving_default": signature}
            )
            builder.save()
            out = sess.run(score, {serialized: examples})
    npz = Path(directory) / "examples.npz"
    np.savez(npz, examples=examples)
    return Sample(
        kind="savedmodel",
        path=Path(directory),
        input_names=["examples"],
        output_names=["score"],
        inputs={"examples": examples},
        expected={"score": out},
        extra={"example_inputs": npz},
    )


def build_keras_application(
    directory: str | Path,
    name: str = "MobileNetV2",
    size: int = 32,
    statistics_batch: int = STATISTICS_BATCH,
    **kwargs: Any,
) -> Sample:
    """A keras.applications network with random weights and data-set batch-norm statistics.

    Random weights leave every BatchNormalization at mean 0, variance 1, so activations
    shrink or grow layer after layer and the outputs barely depend on the input. One forward
    pass in training mode with momentum 0 sets each layer's statistics to those of a batch
    drawn like the registry's parity inputs: 0-255 for networks that rescale pixels
    themselves (EfficientNet), N(0, 1) otherwise.
    """
    import keras

    directory = Path(directory)
    directory.mkdir(parents=True, exist_ok=True)
    keras.utils.set_random_seed(19)
    build = getattr(keras.applications, name)
    images = keras.Input((size, size, 3), name="images")
    model = build(weights=None, input_tensor=images, classifier_activation=None, **kwargs)
    pixels = any(type(layer).__name__ == "Rescaling" for layer in model.layers[:3])
    rng = _rng(20)
    shape = (statistics_batch, size, size, 3)
    batch = rng.uniform(0, 255, shape) if pixels else rng.standard_normal(shape)
    norms = [layer for layer in model.layers if isinstance(layer, keras.layers.BatchNormalization)]
    momenta = [layer.momentum for layer in norms]
    for layer in norms:
        layer.momentum = 0.0
    model([batch.astype(np.float32)], training=True)
    for layer, momentum in zip(norms, momenta, strict=True):
        layer.momentum = momentum
    inputs = {"images": batch[:2].astype(np.float32)}
    path = directory / f"{name.lower()}_{size}.keras"
    return _keras_sample(model, path, inputs, parameters=model.count_params())


def build_outlier_weight_keras(directory: str | Path) -> Sample:
    """A dense layer that int8 quantization wrecks: each output column has a weight of 1000
    on a feature that is always zero, beside ordinary weights of about 0.1.

    x[?,16] -> [x, x[:, :1] - x[:, :1]] -> Dense y[?,64]. In float the outlier multiplies an
    exact zero, so every runtime's summation order gives the same sum; quantized to int8 with
    one scale per column, every ordinary weight rounds to 0.
    """
    import keras

    directory = Path(directory)
    directory.mkdir(parents=True, exist_ok=True)
    x = keras.Input((16,), name="x")
    column = keras.layers.Reshape((16, 1), name="column")(x)
    first = keras.layers.Flatten(name="first")(keras.layers.Cropping1D((0, 15))(column))
    zero = keras.layers.Subtract(name="zero")([first, first])
    joined = keras.layers.Concatenate(name="join")([x, zero])
    dense = keras.layers.Dense(64, use_bias=False, name="y")
    y = dense(joined)
    model = keras.Model(x, y)
    kernel = (0.1 * _rng(21).standard_normal((17, 64))).astype(np.float32)
    kernel[16] = 1000.0
    dense.set_weights([kernel])
    inputs = {"x": _rng(22).standard_normal((3, 16)).astype(np.float32)}
    return _keras_sample(model, directory / "outlier.keras", inputs)


def build_tf2_object_checkpoint(directory: str | Path) -> Sample:
    """A TF2 object-based checkpoint (`tf.train.Checkpoint.write`): no graph, only values."""
    tf = _tf()
    directory = Path(directory)
    directory.mkdir(parents=True, exist_ok=True)
    ckpt = tf.train.Checkpoint(v=tf.Variable(np.ones((3, 2), np.float32)))
    ckpt.write(str(directory / "ckpt"))
    return Sample(kind="checkpoint", path=directory)


def build_truncated_checkpoint(directory: str | Path) -> Sample:
    """The TF1 checkpoint sample with its data shard cut in half."""
    sample = build_tf1_checkpoint(directory)
    shard = Path(f"{sample.extra['prefix']}.data-00000-of-00001")
    data = shard.read_bytes()
    shard.write_bytes(data[: len(data) // 2])
    sample.extra["truncated_shard"] = shard
    return sample


def build_recursive_graphdef(directory: str | Path) -> Sample:
    """The 122-byte GraphDef that segfaults TensorFlow when imported (see the constant)."""
    path = Path(directory) / "recursive.pb"
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(base64.b64decode(RECURSIVE_GRAPHDEF_B64))
    return Sample(kind="frozen_pb", path=path, input_names=["x"], output_names=["y"])


def write_random_bytes(path: str | Path, size: int = 512, seed: int = 9) -> Path:
    """A file of seeded random bytes, to upload as if it were a model."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(_rng(seed).integers(0, 256, size, dtype=np.uint8).tobytes())
    return path


BUILDERS = {
    "checkpoint": build_tf1_checkpoint,
    "keras": build_keras_model,
    "tf1_savedmodel": build_tf1_savedmodel,
    "tf2_savedmodel": build_tf2_savedmodel,
    "frozen": build_frozen_graph,
    "ambiguous": build_ambiguous_graph,
    "flex": build_flex_graph,
    "strings": build_string_input_graph,
    "tf2_checkpoint": build_tf2_object_checkpoint,
    "truncated": build_truncated_checkpoint,
    "recursive": build_recursive_graphdef,
    "small_tflite": build_small_tflite,
}


# Samples of real model shapes, each built when first asked for (see BuiltOnDemand).
MODEL_BUILDERS = {
    "keras_without_vec": functools.partial(build_keras_model, with_vec=False),
    "lstm": functools.partial(build_recurrent_keras, layer="LSTM"),
    "gru": functools.partial(build_recurrent_keras, layer="GRU"),
    "keep_prob": build_keep_prob_checkpoint,
    "training": build_training_checkpoint,
    "is_training": build_is_training_graph,
    "tf_example": build_example_parsing_savedmodel,
    "outlier": build_outlier_weight_keras,
    "mobilenet_v2": functools.partial(
        build_keras_application, name="MobileNetV2", size=32, alpha=0.35
    ),
    "efficientnet_b0": functools.partial(build_keras_application, name="EfficientNetB0", size=64),
    # Full size, for bench/architectures.py: at 224 pixels a few images give every layer
    # enough values for its statistics, and ResNet50's training pass stays within memory.
    **{
        f"{key}_224": functools.partial(
            build_keras_application, name=name, size=224, statistics_batch=8
        )
        for key, name in (
            ("mobilenet_v2", "MobileNetV2"),
            ("efficientnet_b0", "EfficientNetB0"),
            ("resnet50", "ResNet50"),
        )
    },
}


class BuiltOnDemand(dict):
    """MODEL_BUILDERS' samples, each built into `directory` the first time it is looked up."""

    def __init__(self, directory: str | Path):
        super().__init__()
        self.directory = Path(directory)

    def __missing__(self, name: str) -> Sample:
        sample = self[name] = MODEL_BUILDERS[name](self.directory / name)
        return sample


def build_all(directory: str | Path) -> dict[str, Sample]:
    """Every sample, each in its own subdirectory of `directory`."""
    return {name: build(Path(directory) / name) for name, build in BUILDERS.items()}


if __name__ == "__main__":
    # `python -m registry.testing.tf_samples DIR [NAME...]`: build samples in a fresh process
    # and print where they are, as JSON (for tests that must not import TensorFlow themselves).
    import json
    import sys

    target, names = Path(sys.argv[1]), sys.argv[2:] or list(BUILDERS)
    fields = ("kind", "input_names", "output_names", "options", "extra")
    every = {**BUILDERS, **MODEL_BUILDERS}
    built = {name: every[name](target / name) for name in names}
    listing = {
        n: {"path": str(s.path), **{f: getattr(s, f) for f in fields}} for n, s in built.items()
    }
    print(json.dumps(listing, indent=2, default=str))
