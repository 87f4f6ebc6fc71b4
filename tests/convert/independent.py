"""Loading and running a produced variant in the test itself, without the converter's code.

TF's own loaders for frozen graphs and SavedModels, ai_edge_litert for .tflite: what a
user of the artifact would do.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

# Agreement with the source's outputs, relative to the output's scale (max |expected|).
TEST_TOLERANCE = {
    "frozen_pb": 1e-5,
    "savedmodel": 1e-5,
    "tflite": 1e-5,
    "tflite_fp16": 1e-2,
    "tflite_int8": 5e-2,
}


def run_frozen_pb(path: Path, inputs: dict, input_nodes: dict, output_nodes: dict) -> dict:
    """input_nodes/output_nodes map the source's names to the .pb's node names."""
    import tensorflow as tf

    graph_def = tf.compat.v1.GraphDef()
    graph_def.ParseFromString(path.read_bytes())
    graph = tf.Graph()
    with graph.as_default():
        tf.graph_util.import_graph_def(graph_def, name="")
    with tf.compat.v1.Session(graph=graph) as session:
        fetch = {name: f"{node}:0" for name, node in output_nodes.items()}
        feed = {f"{input_nodes[name]}:0": value for name, value in inputs.items()}
        return session.run(fetch, feed)


def run_savedmodel(path: Path, inputs: dict, renamed: dict | None = None) -> dict:
    import tensorflow as tf

    function = tf.saved_model.load(str(path)).signatures["serving_default"]
    kwargs = {(renamed or {}).get(k, k): tf.constant(v) for k, v in inputs.items()}
    return {k: v.numpy() for k, v in function(**kwargs).items()}


def run_tflite(path: Path, inputs: dict, renamed: dict | None = None) -> dict:
    from ai_edge_litert.interpreter import Interpreter

    interpreter = Interpreter(model_path=str(path))
    signatures = interpreter.get_signature_list()
    key = "serving_default" if "serving_default" in signatures else next(iter(signatures))
    runner = interpreter.get_signature_runner(key)
    return runner(**{(renamed or {}).get(k, k): v for k, v in inputs.items()})


def run_variant(variant: dict, target: str, path: Path, inputs: dict) -> dict:
    """Run a produced variant on `inputs`, keyed by the source's names, as its facts describe."""
    renamed = variant["renamed_inputs"]
    if target == "frozen_pb":
        input_nodes = {e["name"]: e["tensor"].split(":")[0] for e in variant["inputs"]}
        output_nodes = {e["name"]: e["tensor"].split(":")[0] for e in variant["outputs"]}
        return run_frozen_pb(path, inputs, input_nodes, output_nodes)
    if target == "savedmodel":
        return run_savedmodel(path, inputs, renamed)
    return run_tflite(path, inputs, renamed)


def assert_matches(expected: dict, produced: dict, target_kind: str) -> float:
    """Every expected output is produced under the same name and agrees; returns the worst diff."""
    assert set(produced) == set(expected), f"outputs {sorted(produced)} != {sorted(expected)}"
    worst = 0.0
    for name, reference in expected.items():
        got = np.asarray(produced[name])
        reference = np.asarray(reference)
        assert got.shape == reference.shape, name
        diff = float(np.max(np.abs(got.astype(np.float64) - reference))) if got.size else 0.0
        scale = max(float(np.max(np.abs(reference))), 1.0) if reference.size else 1.0
        assert diff <= TEST_TOLERANCE[target_kind] * scale, f"{name}: diff {diff}"
        worst = max(worst, diff)
    return worst
