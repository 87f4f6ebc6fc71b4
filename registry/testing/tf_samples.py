"""Small sample models of every uploadable kind, built on demand into a directory.

Plain functions, no pytest: the convert tests use them through session fixtures and the
integration tests upload what they write. Each builder imports TensorFlow lazily, runs in a
fraction of a second once TF is imported, and returns a `Sample`: where the model is, what
its inputs and outputs are called, and the source's own outputs for `sample.inputs` (computed
while building, so a test can compare a converted variant against them without the converter).
"""

from __future__ import annotations

import base64
import os
import warnings
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")

# A GraphDef whose function library holds a self-recursive function `rec`, called by node
# `y`: importing it segfaults TensorFlow 2.21 (shared/tf-notes.md section 9).
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


def build_keras_model(directory: str | Path) -> Sample:
    """A functional Keras model with inputs img, vec and outputs score, cls, as .keras and .h5.

    The dense layer has 2,048 weights so that dynamic-range int8 quantization really
    quantizes something (TFLite leaves tensors under 1,024 elements in float).
    """
    import keras

    directory = Path(directory)
    directory.mkdir(parents=True, exist_ok=True)
    keras.utils.set_random_seed(7)
    img = keras.Input((8, 8, 3), name="img")
    vec = keras.Input((4,), name="vec")
    h = keras.layers.Conv2D(4, 3, activation="relu", name="conv")(img)
    h = keras.layers.GlobalAveragePooling2D(name="pool")(h)
    h = keras.layers.Concatenate(name="join")([h, vec])
    h = keras.layers.Dense(64, activation="relu", name="hidden")(h)
    h = keras.layers.Dense(32, activation="relu", name="wide")(h)
    score = keras.layers.Dense(1, activation="sigmoid", name="score")(h)
    cls = keras.layers.Dense(5, activation="softmax", name="cls")(h)
    model = keras.Model([img, vec], [score, cls], name="two_by_two")
    keras_path = directory / "two_by_two.keras"
    h5_path = directory / "two_by_two.h5"
    with warnings.catch_warnings():
        # Keras' weight writers trip numpy 2's __array__(copy=) deprecation.
        warnings.simplefilter("ignore", DeprecationWarning)
        model.save(keras_path)
        model.save(h5_path)
    rng = _rng(2)
    inputs = {
        "img": rng.standard_normal((3, 8, 8, 3)).astype(np.float32),
        "vec": rng.standard_normal((3, 4)).astype(np.float32),
    }
    out_score, out_cls = model([inputs["img"], inputs["vec"]], training=False)
    return Sample(
        kind="keras",
        path=keras_path,
        input_names=["img", "vec"],
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
    )


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
}


def build_all(directory: str | Path) -> dict[str, Sample]:
    """Every sample, each in its own subdirectory of `directory`."""
    return {name: build(Path(directory) / name) for name, build in BUILDERS.items()}


if __name__ == "__main__":
    # `python -m registry.testing.tf_samples DIR [NAME...]`: build samples in a fresh process
    # and print where they are, as JSON (for tests that must not import TensorFlow themselves).
    import json
    import sys

    target, names = Path(sys.argv[1]), sys.argv[2:] or list(BUILDERS)
    fields = ("kind", "input_names", "output_names", "options")
    built = {name: BUILDERS[name](target / name) for name in names}
    listing = {
        n: {"path": str(s.path), **{f: getattr(s, f) for f in fields}} for n, s in built.items()
    }
    print(json.dumps(listing, indent=2))
